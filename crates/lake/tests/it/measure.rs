//! Measurements, not assertions: peak RSS of staging and finalizing one account-region of
//! 10,000 instances × 354 patches (3.54M `instance_patches` rows, the Lambda `collect`
//! scale) and 60 applications, held as the collector holds them (spilled compressed chunks). Run
//! with `cargo test --workspace measure_stage -- --ignored --nocapture`.

use chrono::{TimeZone, Utc};
use patchlake_lake::RunMeta;
use patchlake_model::records::{InstancePatch, InventoryApplication};
use patchlake_model::{CoverageStatus, Table};

use crate::backend::{Backend, TestLake};
use crate::fixtures::{run_id, task};

/// This process's resident set size now and at its peak since the last reset, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap()
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// Resets the peak RSS (`VmHWM`) to the current RSS.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run explicitly with --ignored --nocapture"]
async fn measure_stage_and_finalize_peak_rss() {
    const INSTANCES: usize = 10_000;
    const PATCHES: usize = 354;
    const APPLICATIONS: usize = 60;
    let t = TestLake::new(Backend::Local).await;
    let mut out = task(
        "123456789012",
        "us-east-1",
        INSTANCES,
        0,
        CoverageStatus::Ok,
    );
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    for i in 0..INSTANCES {
        let instance_id = format!("i-{i:017x}");
        for p in 0..PATCHES {
            out.instance_patches.push(InstancePatch {
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
                instance_id: instance_id.clone(),
                title: format!("kernel-livepatch-5.10.{p}-{}.amzn2.x86_64", i % 97),
                kb_id: Some(format!("ALAS2-2026-{:04}", (p * 7 + i) % 2000)),
                classification: Some(["Security", "Bugfix", "Enhancement"][p % 3].into()),
                severity: Some(["Critical", "Important", "Medium", "Low"][p % 4].into()),
                state: if (p + i) % 9 == 0 {
                    "Missing"
                } else {
                    "Installed"
                }
                .into(),
                installed_at: Some(t0),
                cve_ids: (0..p % 4)
                    .map(|c| format!("CVE-2026-{:05}", p * 10 + c))
                    .collect(),
            });
        }
        for a in 0..APPLICATIONS {
            out.inventory_applications.push(InventoryApplication {
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
                instance_id: instance_id.clone(),
                name: format!("package-{a}"),
                version: Some(format!("1.{}.{}", a % 7, i % 13)),
                publisher: Some("Amazon Linux".into()),
                architecture: Some("x86_64".into()),
                install_time: Some("2026-10-01T00:00:00Z".into()),
            });
        }
        out.spill_patches().unwrap();
        out.spill_applications().unwrap();
    }
    let (rss, peak) = rss_mib();
    println!(
        "task held: {} patch rows in {} chunks ({:.1} MiB compressed); RSS {rss:.1} MiB, peak {peak:.1} MiB",
        out.instance_patch_count(),
        out.spilled_patches.len(),
        out.spilled_patches
            .iter()
            .map(|c| c.parquet.len())
            .sum::<usize>() as f64
            / 1048576.0
    );
    let run = run_id(3);
    reset_peak();
    let (before, _) = rss_mib();
    let started = std::time::Instant::now();
    let staged = t.lake.stage(&run, &out).await.unwrap();
    let (_, peak) = rss_mib();
    println!(
        "stage: {} rows, {:.1} s, RSS before {before:.1} MiB, peak {peak:.1} MiB (+{:.1})",
        staged.rows(Table::InstancePatches),
        started.elapsed().as_secs_f64(),
        peak - before
    );
    drop(out);
    reset_peak();
    let (before, _) = rss_mib();
    let started = std::time::Instant::now();
    let record = t.lake.finalize(&RunMeta::new(run)).await.unwrap();
    let (_, peak) = rss_mib();
    println!(
        "finalize: {} rows, {:.1} s, RSS before {before:.1} MiB, peak {peak:.1} MiB (+{:.1})",
        record.row_counts["instance_patches"],
        started.elapsed().as_secs_f64(),
        peak - before
    );
    assert_eq!(
        record.row_counts["instance_patches"],
        (INSTANCES * PATCHES) as i64
    );
}
