//! Load: the real `patchlake collect` binary over hundreds of account-regions, run several
//! times into the same lake, with each run's peak RSS measured from outside the process.
//!
//! CI size: 20 accounts × 3 regions × 2 instances (60 account-regions), 3 runs, 64
//! account-regions at a time. `PATCHLAKE_LOAD_SCALE=N` multiplies the accounts (and the
//! budget's per-target share; `=5` is 300 account-regions, about a minute per run on the
//! 2-core dev machine); `PATCHLAKE_LOAD_RUNS=N` sets the number of runs.
//!
//! Checked: every run exits 0 with every account-region `ok`; the lake verifies and its latest
//! committed run holds exactly the simulator's rows; the highest peak RSS is within
//! [`budget_mib`]; and the last run's peak is within 20 % (+16 MiB) of the second's — runs
//! 2..N do the same incremental work over the same fleet, so growth there is a leak (run 1
//! has no prior run to load and is reported apart).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use patchlake::demo::simulator_credentials;
use patchlake::pipeline::open_lake_with;
use patchlake_assume::ClientFactory;
use patchlake_query::{AsOf, LakeQuery, ReportParams};
use patchlake_sim::{FleetSpec, SimHandle};

use crate::faults::{differences, expected_rows, lake_rows};
use crate::harness;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(default)
}

/// Peak RSS allowed for a collection of `targets` account-regions, in MiB: 200 MiB for the
/// process (runtime, SDK clients, the Parquet writer, debug build) plus 0.5 MiB per
/// account-region (its coverage row, pacer and session; task outputs are staged and dropped
/// as they finish). The debug build measured 154-227 MiB at 300 account-regions
/// and 124-181 MiB at 60 (2026-11-25): the budget (350 and 230 MiB) leaves room for noise
/// and concurrency, not for memory that grows with the fleet or with repeated runs.
fn budget_mib(targets: usize) -> f64 {
    200.0 + 0.5 * targets as f64
}

fn patchlake(sim: &SimHandle, lake: &Path, dir: &Path) -> Command {
    let mut sets = patchlake::demo::simulator_settings(sim, lake);
    sets.push("collect.concurrency=64".to_owned());
    // GNU time reports the child's peak RSS from wait4(2), exactly; without it, VmHWM is
    // sampled from /proc while the process runs.
    let mut c = if Path::new("/usr/bin/time").exists() {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "-o"])
            .arg(dir.join("maxrss"))
            .arg(env!("CARGO_BIN_EXE_patchlake"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_patchlake"))
    };
    harness::isolated(&mut c, dir);
    for s in sets {
        c.arg("--set").arg(s);
    }
    c
}

/// Runs `command` to completion: (success, stderr, peak RSS in KiB).
fn run_measured(mut command: Command, dir: &Path) -> (bool, String, u64) {
    let _ = std::fs::remove_file(dir.join("maxrss"));
    let mut child = command.spawn().unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut sampled = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Some(kib) = std::fs::read_to_string(&status_path).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            sampled = sampled.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let exact = std::fs::read_to_string(dir.join("maxrss"))
        .ok()
        .and_then(|s| s.lines().last()?.trim().parse::<u64>().ok());
    (status.success(), stderr, exact.unwrap_or(sampled))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_account_regions_in_repeated_runs_stay_within_a_flat_memory_budget() {
    let scale = env_usize("PATCHLAKE_LOAD_SCALE", 1);
    let runs = env_usize("PATCHLAKE_LOAD_RUNS", 3).max(2);
    let spec = FleetSpec {
        seed: 97,
        accounts: 20 * scale,
        regions: vec![
            "us-east-1".into(),
            "eu-west-1".into(),
            "ap-southeast-2".into(),
        ],
        instances_per_region: 2,
        anchor: Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
        ..FleetSpec::default()
    };
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let targets = sim
        .fleet()
        .account_regions()
        .iter()
        .filter(|ar| sim.fleet().region_enabled(&ar.account_id, &ar.region))
        .count();
    assert!(targets >= 50 * scale, "{targets} account-regions");

    let mut peaks = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let cmd = patchlake(&sim, &lake, dir.path());
        let (ok, stderr, peak_kib) = tokio::task::spawn_blocking({
            let dir = dir.path().to_path_buf();
            let mut cmd = cmd;
            cmd.arg("collect");
            move || run_measured(cmd, &dir)
        })
        .await
        .unwrap();
        assert!(ok, "run {run}: collect failed: {stderr}");
        let mib = peak_kib as f64 / 1024.0;
        eprintln!(
            "load: run {run}/{runs}: {targets} account-regions, {:.1} s, peak RSS {mib:.1} MiB",
            started.elapsed().as_secs_f64()
        );
        peaks.push(mib);
    }

    // The lake verifies, and the latest run is exactly the fleet.
    let mut verify = patchlake(&sim, &lake, dir.path());
    verify.args(["lake", "verify"]);
    let (ok, stderr, _) = run_measured(verify, dir.path());
    assert!(ok, "lake verify failed: {stderr}");
    let config = harness::config(&sim, &lake);
    let factory = ClientFactory::new(&config.aws, Some(simulator_credentials())).await;
    let opened = open_lake_with(&config, Some(&factory)).await.unwrap();
    assert_eq!(opened.committed_runs().await.unwrap().len(), runs);
    let q = LakeQuery::from_lake(&opened, AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    let coverage = q
        .sql("SELECT COUNT(*) AS n FROM coverage WHERE status = 'ok'")
        .await
        .unwrap();
    let ok_targets =
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(coverage[0].column(0))
            .value(0);
    assert_eq!(
        ok_targets as usize, targets,
        "account-regions ok in the last run"
    );
    let diff = differences(
        &expected_rows(sim.fleet(), |_, _| true),
        &lake_rows(&q, |_, _| true).await,
    );
    assert!(
        diff.is_empty(),
        "last run differs from the fleet:\n{}",
        diff.join("\n")
    );

    let budget = budget_mib(targets);
    let highest = peaks.iter().cloned().fold(0.0, f64::max);
    eprintln!(
        "load: peaks {:?} MiB, budget {budget:.0} MiB",
        peaks
            .iter()
            .map(|p| (p * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
    assert!(highest > 0.0, "peak RSS was not measured");
    assert!(
        highest <= budget,
        "peak RSS {highest:.1} MiB over the budget of {budget:.0} MiB for {targets} account-regions"
    );
    let (second, last) = (peaks[1], peaks[runs - 1]);
    assert!(
        last <= second * 1.2 + 16.0,
        "peak RSS grew over repeated runs: run 2 {second:.1} MiB, run {runs} {last:.1} MiB"
    );
    sim.shutdown().await;
}
