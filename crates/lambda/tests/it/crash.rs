//! `kill -9` of the Lambda finalizer: the real `finalize` binary behind the Runtime API
//! emulator is killed with SIGKILL at a seeded random point of its invocation (listing
//! staging, merging, writing table files, writing the `runs` record, removing staging), then
//! invoked again with the same event, as Step Functions' Retry does. After every iteration
//! every committed run verifies, the killed run is committed exactly once, and every table of
//! every committed run holds the same rows (identity columns, as a multiset) as a clean,
//! uninterrupted run of the same fleet.
//!
//! `PATCHLAKE_CRASH_ITERATIONS=N` (default 6) runs more kills; `PATCHLAKE_CRASH_SEED` varies
//! the points.

use std::collections::BTreeMap;
use std::time::Instant;

use patchlake_lake::Lake;
use patchlake_model::RunId;
use patchlake_query::{AsOf, LakeQuery, ReportParams};
use patchlake_report::Format;
use serde_json::{Value, json};

use crate::emulator::Environment;
use crate::harness::{binary, config, function_env, sim, spec};

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: seeded kill points without another dependency.
fn fraction(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

const TABLE_KEYS: [(&str, &str); 8] = [
    ("baselines", "baseline_id"),
    ("patch_groups", "patch_group, baseline_id"),
    ("maintenance_windows", "window_id"),
    ("instances", "instance_id"),
    ("patch_states", "instance_id"),
    ("instance_patches", "instance_id, kb_id, title"),
    ("inventory_applications", "instance_id, name, version"),
    ("coverage", "status"),
];

/// Table → the run's identity rows as CSV lines, sorted (a multiset).
async fn rows(lake: &Lake, run: &RunId) -> BTreeMap<&'static str, Vec<String>> {
    let q = LakeQuery::from_lake(lake, AsOf::Run(run.clone()), ReportParams::default())
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for (table, key) in TABLE_KEYS {
        let batches = q
            .sql(&format!("SELECT account_id, region, {key} FROM {table}"))
            .await
            .unwrap();
        let mut csv = Vec::new();
        patchlake_report::write(&batches, Format::Csv, &mut csv).unwrap();
        let mut lines: Vec<String> = String::from_utf8(csv)
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect();
        lines.sort();
        out.insert(table, lines);
    }
    out
}

/// Plans a run and collects every task with the real binaries; the `finalize` event.
async fn plan_and_collect(env: &[(String, String)]) -> Value {
    let mut plan = Environment::start("plan", &binary(), env).await;
    let planned = plan.invoke(json!({})).await.unwrap();
    plan.shutdown().await;
    let object = &planned["tasks_object"];
    let path = std::path::Path::new(object["bucket"].as_str().unwrap())
        .join(object["key"].as_str().unwrap());
    let tasks: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut collect = Environment::start("collect", &binary(), env).await;
    for task in tasks {
        let out = collect.invoke(task).await.unwrap();
        assert_eq!(out["status"], "ok", "{out}");
    }
    collect.shutdown().await;
    json!({ "run": planned["run"] })
}

/// Every committed run verifies and holds the clean run's rows; returns the committed ids.
async fn check(lake: &Lake, clean: &BTreeMap<&'static str, Vec<String>>, at: &str) -> Vec<RunId> {
    let runs: Vec<RunId> = lake.committed_run_ids().await.unwrap();
    for run in &runs {
        let report = lake.verify(run).await.unwrap();
        assert!(
            report.is_ok(),
            "{at}: run {run} does not verify: {:?}",
            report.problems
        );
        let got = rows(lake, run).await;
        for (table, want) in clean {
            assert_eq!(
                got[table].len(),
                want.len(),
                "{at}: run {run} table {table} has {} rows, the clean run {}",
                got[table].len(),
                want.len()
            );
            assert!(got[table] == *want, "{at}: run {run} table {table} differs");
        }
    }
    let mut distinct = runs.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), runs.len(), "{at}: a run is committed twice");
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_finalize_then_a_retry_commits_each_run_exactly_once() {
    let iterations = env_u64("PATCHLAKE_CRASH_ITERATIONS", 6);
    let mut seed = env_u64("PATCHLAKE_CRASH_SEED", 0x5eed_f1a1);
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(2, &["us-east-1", "eu-west-1"], 40)).await;
    let config = config(&sim, dir.path(), &["collect.incremental=false"]);
    let env = function_env(&config);
    let lake = Lake::open_existing(dir.path()).unwrap();

    // A clean run: the reference rows, and how long finalize takes.
    let event = plan_and_collect(&env).await;
    let mut finalize = Environment::start("finalize", &binary(), &env).await;
    finalize.wait_ready().await;
    let started = Instant::now();
    let out = finalize.invoke(event).await.unwrap();
    let length = started.elapsed();
    finalize.shutdown().await;
    assert_eq!(out["already_committed"], false, "{out}");
    let first = RunId::try_from(out["run_id"].as_str().unwrap().to_owned()).unwrap();
    let clean = rows(&lake, &first).await;
    assert_eq!(clean["instances"].len(), sim.fleet().instance_count());
    let mut committed = check(&lake, &clean, "clean run").await;
    assert_eq!(committed, vec![first]);

    let (mut killed, mut finished, mut committed_before_kill) = (0, 0, 0);
    for i in 0..iterations {
        let event = plan_and_collect(&env).await;
        let run_id = event["run"]["run_id"].as_str().unwrap().to_owned();
        let after = length.mul_f64(1.1 * fraction(&mut seed));
        let mut finalize = Environment::start("finalize", &binary(), &env).await;
        finalize.wait_ready().await;
        let was_killed = tokio::select! {
            out = finalize.invoke(event.clone()) => {
                out.unwrap();
                false
            }
            _ = tokio::time::sleep(after) => true,
        };
        finalize.shutdown().await; // SIGKILL, if still running
        let at = format!("iteration {i}, kill after {after:?}");
        if was_killed {
            killed += 1;
            // Before the retry: the run is committed whole or invisible.
            let now = check(&lake, &clean, &format!("{at}, before the retry")).await;
            if now.iter().any(|r| r.to_string() == run_id) {
                committed_before_kill += 1;
            }
        } else {
            finished += 1;
        }
        // Step Functions' Retry: the same event to a fresh environment.
        let mut retry = Environment::start("finalize", &binary(), &env).await;
        let out = retry.invoke(event).await;
        retry.shutdown().await;
        let out = out.unwrap_or_else(|e| panic!("{at}: the retried finalize failed: {e:?}"));
        assert_eq!(out["run_id"], run_id.as_str(), "{at}");
        assert_eq!(out["partial"], false, "{at}: {out}");
        let now = check(&lake, &clean, &format!("{at}, after the retry")).await;
        assert_eq!(
            now.len(),
            committed.len() + 1,
            "{at}: committed runs {now:?}"
        );
        assert!(
            now.iter().any(|r| r.to_string() == run_id),
            "{at}: not committed"
        );
        committed = now;
    }
    eprintln!(
        "finalize kill -9: {iterations} iterations, {killed} killed mid-invocation \
         ({committed_before_kill} of them after the commit), {finished} finished first; \
         finalize takes {length:?}; {} committed runs, each exact",
        committed.len()
    );
    sim.shutdown().await;
}
