//! Collection benchmark: the real collector against a throttled simulated fleet.
//!
//! Prints achieved successful calls/s as a ratio of the simulator's throttle ceiling (the sum
//! of every account-region's token-bucket rate), calls sent per call needed (throttled
//! attempts are waste), instances/s and peak RSS of the process (collector and simulator
//! together). Asserts completeness, never time.
//!
//! `cargo run --release -p patchlake --example collect_bench -- [accounts] [regions] [instances] [rate]`

use std::sync::Arc;
use std::time::Instant;

use patchlake::demo::{config_for_simulator, simulator_credentials, start_simulator};
use patchlake::pipeline::collect_run;
use patchlake_sim::{FleetSpec, SimOptions, Throttle};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (accounts, regions, instances) = (arg(0, 10), arg(1, 2), arg(2, 100));
    let rate = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(40.0_f64);
    let all_regions = [
        "us-east-1",
        "eu-west-1",
        "us-west-2",
        "ap-southeast-2",
        "eu-central-1",
    ];
    let spec = FleetSpec {
        accounts,
        regions: all_regions[..regions.min(all_regions.len())]
            .iter()
            .map(|r| r.to_string())
            .collect(),
        instances_per_region: instances,
        ..FleetSpec::default()
    };
    let sim = start_simulator(&spec, SimOptions::default()).await?;
    sim.faults().set_throttle(Some(Throttle {
        rate_per_second: rate,
        burst: 20,
    }));
    let dir = tempfile::tempdir()?;
    let mut config = config_for_simulator(&sim, dir.path())?;
    config.collect.concurrency = 64;
    let started = Instant::now();
    let summary = collect_run(Arc::new(config), Some(simulator_credentials())).await?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(summary.is_complete(), "incomplete: {:?}", summary.coverage);
    let stats = sim.stats();
    let ssm_sent: u64 = stats.total_calls - stats.calls("AssumeRole");
    let needed = ssm_sent - stats.throttled;
    let ars = (accounts * spec.regions.len()) as f64;
    let ceiling = ars * rate;
    let n = sim.fleet().instance_count() as f64;
    println!(
        "fleet: {accounts} accounts x {} regions x {instances} instances, throttle {rate}/s burst 20 per account-region",
        spec.regions.len()
    );
    println!("wall time                {secs:>10.1} s");
    println!("SSM calls needed         {needed:>10}");
    println!(
        "SSM calls sent           {ssm_sent:>10}  ({} throttled)",
        stats.throttled
    );
    println!(
        "sent / needed            {:>10.3}",
        ssm_sent as f64 / needed as f64
    );
    println!("achieved calls/s         {:>10.1}", needed as f64 / secs);
    println!("ceiling calls/s          {ceiling:>10.1}");
    println!(
        "achieved / ceiling       {:>10.3}",
        needed as f64 / secs / ceiling
    );
    println!("calls per instance       {:>10.2}", needed as f64 / n);
    println!("instances/s              {:>10.1}", n / secs);
    println!("peak RSS (with sim)      {:>10.1} MiB", peak_rss_mib());
    sim.shutdown().await;
    Ok(())
}
