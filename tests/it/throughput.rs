//! Rate policy against the simulator's per account-region token bucket: the pacer behind every
//! SSM client learns the ceiling from throttling and keeps throttled attempts rare.

use std::sync::Arc;

use futures::StreamExt;
use patchlake::demo::simulator_credentials;
use patchlake_assume::{CallStats, ClientFactory, RoleAssumer};
use patchlake_sim::Throttle;

use crate::harness;

/// `calls` cheap SSM calls, 8 in flight, through one factory-built client of one
/// account-region throttled at `rate`/s (burst 10). Returns (successful, throttled) as the
/// simulator counted them, and the pacer's estimate of the rate.
async fn hammer(rate: f64, calls: usize) -> (u64, u64, Option<f64>, u64) {
    let mut spec = harness::small_spec(41);
    spec.accounts = 1;
    spec.regions = vec!["us-east-1".into()];
    spec.instances_per_region = 10;
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(harness::config(&sim, dir.path()));
    let account = sim.fleet().accounts()[0].id.clone();
    let factory = ClientFactory::new(&config.aws, Some(simulator_credentials())).await;
    let assumer = RoleAssumer::new(factory.clone(), config.clone());
    let identity = assumer.credentials_for(&account).await.unwrap();
    sim.faults().set_throttle(Some(Throttle {
        rate_per_second: rate,
        burst: 10,
    }));
    sim.reset_stats();
    let stats = CallStats::new();
    let ssm = factory.ssm(&account, "us-east-1", identity, &stats);
    let results: Vec<bool> = futures::stream::iter(0..calls)
        .map(|_| {
            let ssm = ssm.clone();
            async move {
                ssm.describe_instance_information()
                    .max_results(5)
                    .send()
                    .await
                    .is_ok()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        results.iter().all(|ok| *ok),
        "every call succeeded after retries"
    );
    let s = sim.stats();
    let pacer = factory.pacer(&account, "us-east-1").snapshot();
    let client = stats.snapshot();
    assert_eq!(client.throttled, s.throttled, "client and simulator agree");
    assert_eq!(
        pacer.throttles, s.throttled,
        "every attempt passed through the pacer"
    );
    sim.shutdown().await;
    (
        s.total_calls - s.throttled,
        s.throttled,
        pacer.estimate,
        client.retries(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pacer_learns_the_ceiling_and_wastes_few_calls() {
    let (ok, throttled, estimate, retries) = hammer(60.0, 360).await;
    assert_eq!(ok, 360);
    assert!(throttled > 0, "the ceiling was reached and learned from");
    assert!(retries >= throttled, "throttled attempts were retried");
    // Unpaced, 8 calls in flight against 60/s throttle most attempts; paced, few are. The
    // first throttles are how the pacer learns, so over only 360 calls they weigh ~8 %
    // (30 measured on a loaded machine); over a whole run they are a fraction of 1 %.
    assert!(
        throttled as f64 <= 0.15 * ok as f64,
        "{throttled} throttled attempts for {ok} calls"
    );
    let estimate = estimate.expect("the pacer measured the service rate");
    assert!(
        (40.0..=75.0).contains(&estimate),
        "estimated {estimate}/s for a 60/s bucket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unthrottled_account_region_is_never_paced() {
    let (ok, throttled, estimate, _) = hammer(1_000_000.0, 100).await;
    assert_eq!((ok, throttled, estimate), (100, 0, None));
}
