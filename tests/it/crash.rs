//! Crash safety of the real binary: `patchlake collect` is killed with SIGKILL at seeded
//! random points of its run (discovery, collection, staging, finalize, commit), against a
//! local lake and an S3 lake on moto, then run again. After every kill the lake verifies,
//! every committed run holds each of the simulator's rows exactly once (a killed run is
//! either committed whole or invisible), and a final rerun commits the fleet exactly.
//!
//! The CLI has no separate finalize step (collect stages and finalizes in one process), so
//! kills land in finalize by timing: points are spread over the whole measured run length.
//! `PATCHLAKE_CRASH_ITERATIONS=N` (default 8 per backend) runs more.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use patchlake::demo::simulator_credentials;
use patchlake::pipeline::open_lake_with;
use patchlake_assume::ClientFactory;
use patchlake_config::Config;
use patchlake_query::{AsOf, LakeQuery, ReportParams};
use patchlake_sim::{FleetSpec, SimHandle};

use crate::faults::{differences, expected_rows, lake_rows};
use crate::harness;
use crate::moto::{BUCKET, MOTO_ACCOUNT, Moto, skipped};

fn iterations() -> usize {
    std::env::var("PATCHLAKE_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

/// splitmix64: a seeded stream of kill points without another dependency.
struct Points(u64);

impl Points {
    fn next_fraction(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn spec() -> FleetSpec {
    FleetSpec {
        accounts: 2,
        instances_per_region: 40,
        ..harness::small_spec(61)
    }
}

fn patchlake(sets: &[String], dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patchlake"));
    harness::isolated(&mut c, dir);
    for s in sets {
        c.arg("--set").arg(s);
    }
    c
}

/// The `--set` flags equal to `config` (the keys this test varies).
fn flags(sim: &SimHandle, config: &Config) -> Vec<String> {
    let spec = sim.fleet().spec();
    let ids: Vec<&str> = sim
        .fleet()
        .accounts()
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    let mut sets = vec![
        format!("lake.root={}", config.lake.root),
        format!("accounts.ids={}", ids.join(",")),
        format!("regions.names={}", spec.regions.join(",")),
        format!("roles.role_name={}", spec.role_name),
        format!("aws.endpoint_url={}", sim.endpoint()),
    ];
    if let Some(x) = &spec.external_id {
        sets.push(format!("roles.external_id={x}"));
    }
    if let Some(e) = &config.lake.endpoint_url {
        sets.push(format!("lake.endpoint_url={e}"));
        sets.push("lake.force_path_style=true".into());
        sets.push(format!("lake.expected_bucket_owner={MOTO_ACCOUNT}"));
    }
    sets
}

/// Every committed run verifies and holds the fleet's rows exactly once.
async fn check_lake(
    config: &Config,
    sim: &SimHandle,
    sets: &[String],
    dir: &Path,
    at: &str,
) -> usize {
    let out = patchlake(sets, dir)
        .args(["lake", "verify"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{at}: lake verify failed: {stderr}");
    let factory = ClientFactory::new(&config.aws, Some(simulator_credentials())).await;
    let lake = open_lake_with(config, Some(&factory)).await.unwrap();
    let runs = lake.committed_runs().await.unwrap();
    let want = expected_rows(sim.fleet(), |_, _| true);
    for run in &runs {
        let q = LakeQuery::from_lake(
            &lake,
            AsOf::Run(run.run_id.clone()),
            ReportParams::default(),
        )
        .await
        .unwrap();
        let got = lake_rows(&q, |_, _| true).await;
        let diff = differences(&want, &got);
        assert!(
            diff.is_empty(),
            "{at}: committed run {} differs from the simulator:\n{}",
            run.run_id,
            diff.join("\n")
        );
    }
    runs.len()
}

/// Runs `patchlake collect` undisturbed; it must succeed.
fn collect_to_completion(sets: &[String], dir: &Path, what: &str) {
    let out = patchlake(sets, dir).arg("collect").output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn crash_and_rerun(config: Config, sim: &SimHandle, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let sets = flags(sim, &config);
    // One undisturbed run measures how long a run takes, to spread kill points over it.
    let started = Instant::now();
    collect_to_completion(&sets, dir.path(), "calibration run");
    let length = started.elapsed();
    let mut points = Points(seed);
    let (mut killed, mut finished) = (0, 0);
    let mut committed = check_lake(&config, sim, &sets, dir.path(), "after calibration").await;
    for i in 0..iterations() {
        let after = length.mul_f64(1.1 * points.next_fraction());
        let mut child = patchlake(&sets, dir.path()).arg("collect").spawn().unwrap();
        tokio::time::sleep(after).await;
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "iteration {i}: collect exited {status}");
                finished += 1;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                // It may have finished between the check and the kill.
                match child.wait().unwrap().success() {
                    true => finished += 1,
                    false => killed += 1,
                }
            }
        }
        let now = check_lake(
            &config,
            sim,
            &sets,
            dir.path(),
            &format!("kill {i} at {after:?}"),
        )
        .await;
        assert!(now >= committed, "a committed run disappeared");
        committed = now;
    }
    // Recovery: a rerun completes and commits the fleet exactly.
    collect_to_completion(&sets, dir.path(), "rerun");
    let total = check_lake(&config, sim, &sets, dir.path(), "after the rerun").await;
    assert!(total > committed);
    eprintln!(
        "crash safety ({}): {killed} killed, {finished} finished before the kill point, \
         {total} committed runs, all verified and exact; run length {length:?}",
        config.lake.root
    );
    assert!(killed > 0, "no kill landed inside a run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_collect_and_finalize_into_a_local_lake_loses_and_duplicates_nothing() {
    let sim = harness::sim(&spec()).await;
    let lake = tempfile::tempdir().unwrap();
    let config = harness::config(&sim, lake.path());
    crash_and_rerun(config, &sim, 0x5eed_0001).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_collect_and_finalize_into_an_s3_lake_loses_and_duplicates_nothing() {
    if skipped() {
        return;
    }
    let moto = Moto::start().await;
    let sim = harness::sim(&spec()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = harness::with(
        &harness::config(&sim, dir.path()),
        &[
            &format!("lake.root=s3://{BUCKET}/crash"),
            &format!("lake.endpoint_url={}", moto.endpoint),
            "lake.force_path_style=true",
            &format!("lake.expected_bucket_owner={MOTO_ACCOUNT}"),
        ],
    );
    let factory = ClientFactory::new(&config.aws, Some(simulator_credentials())).await;
    factory
        .s3(&config.lake)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    crash_and_rerun(config, &sim, 0x5eed_0002).await;
    sim.shutdown().await;
}
