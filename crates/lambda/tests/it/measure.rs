//! Measurements, not assertions on time: Lambda init time (process start to the first `next`
//! request) of every function, and the peak RSS of `collect` on a 10,000-instance
//! account-region. Run with
//! `cargo test -p patchlake-lambda --test it -- --ignored --nocapture measure`.

use serde_json::json;

use crate::emulator::Environment;
use crate::harness::{binary, config, function_env, sim, spec};

#[tokio::test]
#[ignore = "measurement: run explicitly with --ignored --nocapture"]
async fn measure_init_time_and_collect_peak_rss() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(1, &["us-east-1"], 10_000)).await;
    let config = config(&sim, dir.path(), &["collect.incremental=false"]);
    let env = function_env(&config);
    let profile = if cfg!(debug_assertions) {
        "dev (debug assertions)"
    } else {
        "release"
    };
    println!("profile: {profile}");
    for name in ["plan", "collect", "finalize", "report"] {
        let mut samples = Vec::new();
        for _ in 0..5 {
            let e = Environment::start(name, &binary(name), &env).await;
            e.wait_ready().await;
            samples.push(e.init_time().unwrap().as_secs_f64() * 1000.0);
            e.shutdown().await;
        }
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "init {name:<9} median {:>6.1} ms  (min {:.1}, max {:.1}, n=5)",
            samples[2], samples[0], samples[4]
        );
    }
    let mut plan = Environment::start("plan", &binary("plan"), &env).await;
    let planned = plan.invoke(json!({})).await.unwrap();
    plan.shutdown().await;
    let mut collect = Environment::start("collect", &binary("collect"), &env).await;
    let run_id = planned["run"]["run_id"].clone();
    let account = sim.fleet().accounts()[0].id.clone();
    let started = std::time::Instant::now();
    let out = collect
        .invoke(json!({"run_id": run_id, "account_id": account, "region": "us-east-1"}))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let rss = collect.peak_rss_kib().unwrap();
    collect.shutdown().await;
    assert_eq!(out["status"], "ok", "{out}");
    assert_eq!(out["instances"], 10_000);
    println!(
        "collect 10k instances: status {}, {} api calls, {} instance_patches rows, {:.1} s, peak RSS {:.1} MiB",
        out["status"],
        out["api_calls"],
        out["rows"]["instance_patches"],
        elapsed.as_secs_f64(),
        rss as f64 / 1024.0
    );
    sim.shutdown().await;
}
