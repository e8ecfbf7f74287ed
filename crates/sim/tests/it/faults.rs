use std::time::{Duration, Instant};

use patchlake_sim::Throttle;
use serde_json::json;

use crate::client::*;

#[tokio::test]
async fn throttling_per_account_region() {
    let sim = start().await;
    let a = sim.fleet().accounts()[0].id.clone();
    let b = sim.fleet().accounts()[1].id.clone();
    let mut conn = Conn::open(&sim).await;
    let key_a = assume(&mut conn, &a).await;
    let key_b = assume(&mut conn, &b).await;
    sim.faults().set_throttle(Some(Throttle {
        rate_per_second: 0.0,
        burst: 3,
    }));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let resp = ssm(
            &mut conn,
            &key_a,
            "us-east-1",
            "DescribePatchBaselines",
            json!({}),
        )
        .await;
        if resp.status != 200 {
            assert_eq!(resp.status, 400);
            assert_eq!(resp.error_type(), "ThrottlingException");
            assert_eq!(resp.json()["message"], "Rate exceeded");
            assert_eq!(resp.header("x-amzn-errortype"), Some("ThrottlingException"));
        }
        statuses.push(resp.status);
    }
    assert_eq!(statuses, [200, 200, 200, 400, 400]);
    // Other buckets are untouched.
    assert_eq!(
        ssm(
            &mut conn,
            &key_a,
            "eu-west-1",
            "DescribePatchBaselines",
            json!({})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        ssm(
            &mut conn,
            &key_b,
            "us-east-1",
            "DescribePatchBaselines",
            json!({})
        )
        .await
        .status,
        200
    );
    let stats = sim.stats();
    assert_eq!(stats.throttled, 2);
    assert_eq!(stats.calls_of("DescribePatchBaselines", &a, "us-east-1"), 5);

    // A refilling bucket lets calls through again.
    sim.faults().set_throttle(Some(Throttle {
        rate_per_second: 20.0,
        burst: 1,
    }));
    assert_eq!(
        ssm(
            &mut conn,
            &key_a,
            "us-east-1",
            "DescribePatchBaselines",
            json!({})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        ssm(
            &mut conn,
            &key_a,
            "us-east-1",
            "DescribePatchBaselines",
            json!({})
        )
        .await
        .status,
        400
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        ssm(
            &mut conn,
            &key_a,
            "us-east-1",
            "DescribePatchBaselines",
            json!({})
        )
        .await
        .status,
        200
    );
    sim.faults().reset();
    assert!(sim.faults().config().throttle.is_none());
}

#[tokio::test]
async fn latency_is_added() {
    let sim = start().await;
    let mut conn = Conn::open(&sim).await;
    sim.faults().set_latency(Duration::from_millis(120));
    let start = Instant::now();
    let resp = sts(&mut conn, HUB_KEY, &[("Action", "GetCallerIdentity")]).await;
    assert_eq!(resp.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(120));
}

#[tokio::test]
async fn explicit_port_and_shutdown() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let sim = start_with(
        spec(),
        patchlake_sim::SimOptions {
            port: Some(port),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(sim.endpoint(), format!("http://127.0.0.1:{port}"));
    let addr = sim.addr();
    sim.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Loopback throughput. Run with
/// `cargo test -p patchlake-sim --release --test it -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput() {
    let sim = start().await;
    let account = sim.fleet().accounts()[0].id.clone();
    let mut conn = Conn::open(&sim).await;
    let key = assume(&mut conn, &account).await;
    let ids: Vec<String> = sim
        .fleet()
        .account_region(&account, "us-east-1")
        .unwrap()
        .instances
        .iter()
        .take(50)
        .map(|i| i.instance_id.clone())
        .collect();
    let clients = 4;
    let per_client = 5000;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut conn = Conn::open(&sim).await;
        let key = key.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_client {
                let resp = ssm(
                    &mut conn,
                    &key,
                    "us-east-1",
                    "DescribeInstancePatchStates",
                    json!({"InstanceIds": ids}),
                )
                .await;
                assert_eq!(resp.status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let calls = clients * per_client;
    println!(
        "{calls} DescribeInstancePatchStates calls (50 ids each) in {elapsed:?}: {:.0} calls/s",
        calls as f64 / elapsed.as_secs_f64()
    );
}
