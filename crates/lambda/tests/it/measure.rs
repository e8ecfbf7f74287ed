//! Measurements, not assertions on time: Lambda init time (process start to the first `next`
//! request) of every function, and the peak RSS of `collect` (a full and an incremental one),
//! `finalize`, `plan` and `report` on a 10,000-instance account-region. Run with
//! `cargo test --workspace measure -- --ignored --nocapture` (with `PATCHLAKE_LAMBDA_BIN_DIR`
//! set to a directory holding a copy of the function binary when other builds share the
//! target directory).

use serde_json::{Value, json};

use crate::emulator::Environment;
use crate::harness::{binary, config, function_env, sim, spec};

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "dev (debug assertions)"
    } else {
        "release"
    }
}

#[tokio::test]
#[ignore = "measurement: run explicitly with --ignored --nocapture"]
async fn measure_init_time() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(1, &["us-east-1"], 10)).await;
    let env = function_env(&config(&sim, dir.path(), &[]));
    println!("profile: {}", profile());
    for name in ["plan", "collect", "finalize", "report"] {
        let mut samples = Vec::new();
        for _ in 0..5 {
            let e = Environment::start(name, &binary(), &env).await;
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
    sim.shutdown().await;
}

/// Invokes `name` once in a fresh environment: its output, seconds taken and peak RSS in MiB.
async fn invoke_fresh(env: &[(String, String)], name: &str, event: Value) -> (Value, f64, f64) {
    let mut e = Environment::start(name, &binary(), env).await;
    let started = std::time::Instant::now();
    let out = e.invoke(event).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let rss = e.peak_rss_kib().unwrap() as f64 / 1024.0;
    e.shutdown().await;
    (out, elapsed, rss)
}

#[tokio::test]
#[ignore = "measurement: run explicitly with --ignored --nocapture"]
async fn measure_collect_and_finalize_peak_rss() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(1, &["us-east-1"], 10_000)).await;
    let env = function_env(&config(&sim, dir.path(), &["collect.incremental=true"]));
    let account = sim.fleet().accounts()[0].id.clone();
    println!("profile: {}", profile());
    for (round, kind) in ["full", "incremental"].into_iter().enumerate() {
        let (planned, secs, rss) = invoke_fresh(&env, "plan", json!({})).await;
        println!("plan: {secs:.1} s, peak RSS {rss:.1} MiB");
        let run = planned["run"].clone();
        let event = json!({"run_id": run["run_id"], "account_id": account, "region": "us-east-1"});
        let (out, secs, rss) = invoke_fresh(&env, "collect", event).await;
        assert_eq!(out["status"], "ok", "{out}");
        assert_eq!(out["instances"], 10_000);
        let calls = out["api_calls"].as_i64().unwrap();
        println!(
            "collect ({kind}) 10k instances: {calls} api calls, {} instance_patches rows, {secs:.1} s, peak RSS {rss:.1} MiB",
            out["rows"]["instance_patches"],
        );
        let (done, secs, rss) = invoke_fresh(&env, "finalize", json!({ "run": run })).await;
        assert_eq!(done["partial"], false, "{done}");
        println!(
            "finalize (run {}) {} instance_patches rows: {secs:.1} s, peak RSS {rss:.1} MiB",
            round + 1,
            done["row_counts"]["instance_patches"],
        );
        let event = json!({ "run_id": run["run_id"] });
        let (reported, secs, rss) = invoke_fresh(&env, "report", event).await;
        assert!(reported["objects"].as_array().is_some(), "{reported}");
        println!(
            "report (run {}): {secs:.1} s, peak RSS {rss:.1} MiB",
            round + 1
        );
    }
    sim.shutdown().await;
}
