//! A small hand-built fleet whose compliance is worked out by hand in `compliance.rs`.

use chrono::{DateTime, TimeZone, Utc};
use patchlake_lake::{Lake, RunMeta};
use patchlake_model::records::*;
use patchlake_model::{RunId, RunRecord};

pub const A: &str = "111111111111";
pub const B: &str = "222222222222";
pub const C: &str = "333333333333";
pub const AL2023: &str = "AMAZON_LINUX_2023";
pub const WINDOWS: &str = "WINDOWS";

pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

pub fn coverage(account: &str, region: &str, status: CoverageStatus) -> Coverage {
    Coverage {
        account_id: account.into(),
        region: region.into(),
        status,
        error_code: (status == CoverageStatus::Failed).then(|| "AccessDenied".to_owned()),
        error_message: None,
        api_calls: 12,
        throttled_calls: 0,
        retries: 0,
        started_at: at(25, 12),
        finished_at: at(25, 12),
        instances: 0,
    }
}

pub fn instance(task: &mut TaskOutput, id: &str, os: Option<&str>, group: Option<&str>) {
    let c = &task.coverage;
    task.instances.push(Instance {
        account_id: c.account_id.clone(),
        region: c.region.clone(),
        instance_id: id.into(),
        computer_name: Some(format!("{id}.internal")),
        operating_system: os.map(str::to_owned),
        patch_group: group.map(str::to_owned),
        ..Default::default()
    });
}

/// A patch state ending at `end` with (missing, failed, installed_pending_reboot) counts.
pub fn state(
    task: &mut TaskOutput,
    id: &str,
    baseline: &str,
    end: DateTime<Utc>,
    counts: (i32, i32, i32),
) {
    let c = &task.coverage;
    let (missing, failed, pending) = counts;
    task.patch_states.push(PatchState {
        account_id: c.account_id.clone(),
        region: c.region.clone(),
        instance_id: id.into(),
        baseline_id: Some(baseline.into()),
        operation: Some("Scan".into()),
        operation_end_at: Some(end),
        missing,
        failed,
        installed_pending_reboot: pending,
        installed: 10,
        critical_non_compliant: missing.min(1),
        security_non_compliant: failed,
        ..Default::default()
    });
}

pub fn baseline(task: &mut TaskOutput, id: &str, os: &str, is_default: bool) {
    let c = &task.coverage;
    task.baselines.push(Baseline {
        account_id: c.account_id.clone(),
        region: c.region.clone(),
        baseline_id: id.into(),
        name: Some(format!("{id}-name")),
        operating_system: Some(os.into()),
        is_default,
        ..Default::default()
    });
}

pub fn register(task: &mut TaskOutput, group: &str, baseline: &str, os: &str) {
    let c = &task.coverage;
    task.patch_groups.push(PatchGroupRegistration {
        account_id: c.account_id.clone(),
        region: c.region.clone(),
        patch_group: group.into(),
        baseline_id: baseline.into(),
        operating_system: Some(os.into()),
    });
}

pub fn patch(
    task: &mut TaskOutput,
    id: &str,
    title: &str,
    state: &str,
    severity: &str,
    classification: &str,
    cves: &[&str],
) {
    let c = &task.coverage;
    task.instance_patches.push(InstancePatch {
        account_id: c.account_id.clone(),
        region: c.region.clone(),
        instance_id: id.into(),
        title: title.into(),
        kb_id: Some(format!("KB-{title}")),
        classification: Some(classification.into()),
        severity: Some(severity.into()),
        state: state.into(),
        installed_at: None,
        cve_ids: cves.iter().map(|c| (*c).to_owned()).collect(),
    });
}

/// The fleet of the compliance tests (run started 2026-11-25 12:00, stale before 11-18 12:00).
pub fn fleet() -> Vec<TaskOutput> {
    let fresh = at(24, 0);
    let mut a = TaskOutput::empty(coverage(A, "us-east-1", CoverageStatus::Ok));
    baseline(&mut a, "pb-a-al2023-default", AL2023, true);
    baseline(&mut a, "pb-a-web", AL2023, false);
    baseline(&mut a, "pb-a-db-win", WINDOWS, false);
    baseline(&mut a, "pb-a-win-default", WINDOWS, true);
    register(&mut a, "web", "pb-a-web", AL2023);
    register(&mut a, "db", "pb-a-db-win", WINDOWS);
    // i-01: registered group baseline, clean.
    instance(&mut a, "i-01", Some(AL2023), Some("web"));
    state(&mut a, "i-01", "pb-a-web", fresh, (0, 0, 0));
    // i-02: missing and failed patches, reports the default instead of its group's baseline.
    instance(&mut a, "i-02", Some(AL2023), Some("web"));
    state(&mut a, "i-02", "pb-a-al2023-default", fresh, (2, 1, 0));
    // i-03: its group is registered for Windows only, so the Linux default applies.
    instance(&mut a, "i-03", Some(AL2023), Some("db"));
    state(&mut a, "i-03", "pb-a-al2023-default", fresh, (0, 0, 1));
    // i-04: no patch state.
    instance(&mut a, "i-04", Some(AL2023), None);
    // i-05: last scanned long ago; its counts still add up.
    instance(&mut a, "i-05", Some(WINDOWS), Some("db"));
    state(&mut a, "i-05", "pb-a-db-win", at(1, 0), (5, 0, 0));
    // i-06: ended exactly at the staleness boundary, which is not stale.
    instance(&mut a, "i-06", Some(WINDOWS), None);
    state(&mut a, "i-06", "pb-a-win-default", at(18, 12), (0, 0, 0));
    // i-07: an OS Patch Manager does not know: no effective baseline, so any report drifts.
    instance(&mut a, "i-07", None, Some("web"));
    state(&mut a, "i-07", "pb-elsewhere", fresh, (0, 0, 0));
    patch(
        &mut a,
        "i-02",
        "openssl",
        "Missing",
        "Critical",
        "Security",
        &["CVE-2026-0001", "CVE-2026-0002"],
    );
    patch(&mut a, "i-02", "bash", "Missing", "Medium", "Bugfix", &[]);
    patch(
        &mut a,
        "i-02",
        "kernel",
        "FAILED",
        "Important",
        "Security",
        &["CVE-2026-0003"],
    );
    patch(
        &mut a,
        "i-02",
        "curl",
        "Installed",
        "Critical",
        "Security",
        &["CVE-2026-0004"],
    );
    patch(
        &mut a,
        "i-05",
        "KB5000001",
        "Missing",
        "Important",
        "SecurityUpdates",
        &["CVE-2026-1000"],
    );

    for (id, groups, next) in [
        ("mw-web-db", vec!["web", "db"], Some(at(28, 2))),
        ("mw-db-weekly", vec!["db"], None),
    ] {
        a.maintenance_windows.push(MaintenanceWindow {
            account_id: A.into(),
            region: "us-east-1".into(),
            window_id: id.into(),
            name: Some(format!("{id}-name")),
            schedule: Some("cron(0 2 ? * SAT *)".into()),
            duration_hours: Some(3),
            cutoff_hours: Some(1),
            enabled: next.is_some(),
            next_execution_at: next,
            target_patch_groups: groups.into_iter().map(str::to_owned).collect(),
        });
    }

    let mut b = TaskOutput::empty(coverage(B, "eu-west-1", CoverageStatus::Partial));
    baseline(&mut b, "pb-b-al2023-default", AL2023, true);
    // i-08: group `web` is not registered in this account-region.
    instance(&mut b, "i-08", Some(AL2023), Some("web"));
    state(&mut b, "i-08", "pb-b-al2023-default", fresh, (1, 0, 0));

    let c = TaskOutput::empty(coverage(C, "us-west-2", CoverageStatus::Failed));
    vec![a, b, c]
}

pub async fn commit(lake: &Lake, run_id: &RunId, tasks: &[TaskOutput]) -> RunRecord {
    for task in tasks {
        lake.stage(run_id, task).await.unwrap();
    }
    lake.finalize(&RunMeta::new(run_id.clone())).await.unwrap()
}

pub fn run_id(day: u32, hour: u32) -> RunId {
    RunId::new(at(day, hour), day * 100 + hour)
}

/// Three committed runs of the fleet (days 20, 22 and 25 at 12:00) in which patches get fixed
/// and new ones appear:
/// - `zlib` (Critical, CVE-2026-0005) is missing on i-01 on days 20 and 22, fixed on day 25;
/// - `openssl` is missing on i-02 in every run; `kernel` fails on i-02 from day 25 only;
/// - `KB5000001` is missing on i-05 in every run (i-05 is stale throughout);
/// - i-01 is non-compliant while zlib is missing; i-08 appears on day 22.
pub async fn history_lake(lake: &Lake) -> Vec<RunId> {
    let runs = vec![run_id(20, 12), run_id(22, 12), run_id(25, 12)];
    for (n, run) in runs.iter().enumerate() {
        let mut tasks = fleet();
        if n < 2 {
            let a = &mut tasks[0];
            patch(
                a,
                "i-01",
                "zlib",
                "Missing",
                "Critical",
                "Security",
                &["CVE-2026-0005"],
            );
            for s in a
                .patch_states
                .iter_mut()
                .filter(|s| s.instance_id == "i-01")
            {
                s.missing = 1;
                s.critical_non_compliant = 1;
            }
            a.instance_patches.retain(|p| p.title != "kernel");
        }
        if n == 0 {
            let b = &mut tasks[1];
            b.instances.clear();
            b.patch_states.clear();
        }
        commit(lake, run, &tasks).await;
    }
    runs
}
