//! Reports over several committed runs: trends, exposure since, days missing and MTTR, and
//! the history view agreeing with the per-run view.

use datafusion::arrow::util::pretty::pretty_format_batches;
use patchlake_lake::Lake;
use patchlake_query::{AsOf, LakeQuery, ReportOptions, ReportParams};

use crate::compliance::rows;
use crate::fixtures::history_lake;

async fn open(dir: &std::path::Path, as_of: &str, options: ReportOptions) -> LakeQuery {
    LakeQuery::open_with(
        dir,
        as_of.parse::<AsOf>().unwrap(),
        ReportParams::default(),
        options,
    )
    .await
    .unwrap()
}

const COLUMNS: &str = "account_id, region, instance_id, baseline_id, baseline_source, \
                       reported_baseline_id, status, baseline_drift, missing";

#[tokio::test]
async fn history_view_matches_the_per_run_view_in_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let runs = history_lake(&lake).await;
    let latest = open(dir.path(), "latest", ReportOptions::default()).await;
    for run in &runs {
        let q = open(dir.path(), run.as_str(), ReportOptions::default()).await;
        let order = "ORDER BY account_id, region, instance_id";
        let one = q
            .sql(&format!(
                "SELECT {COLUMNS} FROM instance_compliance {order}"
            ))
            .await
            .unwrap();
        let hist = latest
            .sql(&format!(
                "SELECT {COLUMNS} FROM history_instance_compliance WHERE run_id = '{run}' {order}"
            ))
            .await
            .unwrap();
        assert_eq!(rows(&one), rows(&hist), "run {run}");
        assert!(!rows(&one).is_empty());
    }
}

#[tokio::test]
async fn compliance_trend_has_one_row_per_run_up_to_the_selected_one() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let runs = history_lake(&lake).await;
    let q = open(dir.path(), "latest", ReportOptions::default()).await;
    let got: Vec<Vec<String>> = rows(&q.report("compliance_trend").await.unwrap())
        .into_iter()
        .map(|r| {
            let mut v = vec![r[0].clone(), r[1].clone()];
            v.extend(r[3..].iter().cloned());
            v
        })
        .collect();
    // instances, compliant, non_compliant, stale, unreported, inactive, pct, critical, patches
    let expected = [
        // Day 20: no i-08; i-01 missing zlib; i-06 not stale yet (window from the 13th).
        [
            runs[0].to_string(),
            "2026-11-20".into(),
            "7".into(),
            "2".into(),
            "3".into(),
            "1".into(),
            "1".into(),
            "0".into(),
            "28.6".into(),
            "3".into(),
            "3".into(),
        ],
        [
            runs[1].to_string(),
            "2026-11-22".into(),
            "8".into(),
            "2".into(),
            "4".into(),
            "1".into(),
            "1".into(),
            "0".into(),
            "25.0".into(),
            "4".into(),
            "3".into(),
        ],
        [
            runs[2].to_string(),
            "2026-11-25".into(),
            "8".into(),
            "3".into(),
            "3".into(),
            "1".into(),
            "1".into(),
            "0".into(),
            "37.5".into(),
            "3".into(),
            "3".into(),
        ],
    ];
    assert_eq!(got, expected.map(|r| r.to_vec()).to_vec());

    // As of the middle run, later runs are invisible; trend_runs bounds the window.
    let q = open(
        dir.path(),
        runs[1].as_str(),
        ReportOptions {
            trend_runs: 1,
            ..Default::default()
        },
    )
    .await;
    let got = rows(&q.report("compliance_trend").await.unwrap());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][0], runs[1].to_string());
}

#[tokio::test]
async fn days_missing_and_mttr_follow_patches_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    history_lake(&lake).await;
    let q = open(dir.path(), "latest", ReportOptions::default()).await;
    let batches = q.report("days_missing").await.unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    let got: Vec<Vec<String>> = rows(&batches)
        .into_iter()
        .map(|r| {
            vec![
                r[0].clone(),
                r[3].clone(),
                r[4].clone(),
                r[5].clone(),
                r[8].clone(),
                r[9].clone(),
            ]
        })
        .collect();
    // title, instances_affected, still_missing, remediated, days_missing, mttr_days
    let expected = [
        ["KB5000001", "1", "1", "0", "5.0", ""],
        ["bash", "1", "1", "0", "5.0", ""],
        ["openssl", "1", "1", "0", "5.0", ""],
        ["kernel", "1", "1", "0", "0.0", ""],
        ["zlib", "1", "0", "1", "2.0", "5.0"],
    ];
    assert_eq!(
        got,
        expected.map(|r| r.map(str::to_owned).to_vec()).to_vec(),
        "{text}"
    );
}

#[tokio::test]
async fn cve_exposure_dates_each_cve_from_its_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let runs = history_lake(&lake).await;
    let q = open(dir.path(), "latest", ReportOptions::default()).await;
    let batches = q.report("cve_exposure").await.unwrap();
    let got: Vec<Vec<String>> = rows(&batches)
        .into_iter()
        .map(|r| {
            vec![
                r[0].clone(),
                r[2].clone(),
                r[3].clone(),
                r[4].clone(),
                r[7].clone(),
                r[9].clone(),
            ]
        })
        .collect();
    let (first, last) = (runs[0].to_string(), runs[2].to_string());
    let expected = [
        ["CVE-2026-0001", "Critical", "1", "1", &first, "5.0"],
        ["CVE-2026-0002", "Critical", "1", "1", &first, "5.0"],
        ["CVE-2026-0003", "Important", "1", "1", &last, "0.0"],
        ["CVE-2026-1000", "Important", "1", "1", &first, "5.0"],
    ];
    assert_eq!(
        got,
        expected.map(|r| r.map(|s| s.to_string()).to_vec()).to_vec()
    );
}

#[tokio::test]
async fn status_treatment_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    history_lake(&lake).await;
    let statuses = |q: LakeQuery| async move {
        rows(
            &q.sql("SELECT instance_id, status FROM instance_compliance ORDER BY instance_id")
                .await
                .unwrap(),
        )
        .into_iter()
        .map(|r| format!("{}={}", r[0], r[1]))
        .collect::<Vec<_>>()
        .join(" ")
    };
    let q = open(dir.path(), "latest", ReportOptions::default()).await;
    assert!(statuses(q).await.contains("i-03=non_compliant"));
    // i-03 is non-compliant only through its pending reboot.
    let q = open(
        dir.path(),
        "latest",
        ReportOptions {
            pending_reboot_non_compliant: false,
            ..Default::default()
        },
    )
    .await;
    assert!(statuses(q).await.contains("i-03=compliant"));
}

#[tokio::test]
async fn inactive_instances_are_counted_apart_by_default_and_rejected_patches_are_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut tasks = crate::fixtures::fleet();
    for i in tasks[0].instances.iter_mut() {
        if i.instance_id == "i-04" {
            i.ping_status = Some("Inactive".into());
        }
        if i.instance_id == "i-01" {
            i.ping_status = Some("ConnectionLost".into());
        }
        if i.instance_id == "i-06" {
            i.ping_status = Some("Online".into());
        }
    }
    for s in tasks[0].patch_states.iter_mut() {
        if s.instance_id == "i-06" {
            s.installed_rejected = 1;
        }
    }
    crate::fixtures::commit(&lake, &crate::fixtures::run_id(25, 12), &tasks).await;
    let none_group = |q: LakeQuery| async move {
        rows(&q.report("compliance_by_patch_group").await.unwrap())
            .into_iter()
            .find(|r| r[0] == "(none)")
            .unwrap()[..8]
            .to_vec()
    };
    let statuses = |q: LakeQuery| async move {
        rows(
            &q.sql("SELECT instance_id, status FROM instance_compliance ORDER BY instance_id")
                .await
                .unwrap(),
        )
        .into_iter()
        .map(|r| format!("{}={}", r[0], r[1]))
        .collect::<Vec<_>>()
    };
    // Default: the terminated i-04 and the stopped (ConnectionLost) i-01 are counted apart.
    let q = open(dir.path(), "latest", ReportOptions::default()).await;
    assert_eq!(
        none_group(q).await,
        ["(none)", "1", "1", "0", "0", "0", "1", "100.0"]
    );
    let q = open(dir.path(), "latest", ReportOptions::default()).await;
    let s = statuses(q).await;
    assert!(s.contains(&"i-01=inactive".to_owned()), "{s:?}");
    assert!(s.contains(&"i-04=inactive".to_owned()), "{s:?}");
    assert!(s.contains(&"i-06=compliant".to_owned()), "{s:?}");
    // stale_and_unreported names the instances counted apart, after the others, with why.
    let listed = |q: LakeQuery| async move {
        rows(&q.report("stale_and_unreported").await.unwrap())
            .into_iter()
            .map(|r| [&r[2..3], &r[4..7], &r[9..10]].concat().join(" "))
            .collect::<Vec<_>>()
    };
    let q = open(dir.path(), "latest", ReportOptions::default()).await;
    assert_eq!(
        listed(q).await,
        [
            "i-05 stale   stale",
            "i-01 inactive ConnectionLost stopped or unreachable current",
            "i-04 inactive Inactive terminated or deregistered none",
        ]
    );
    let q = open(
        dir.path(),
        "latest",
        ReportOptions {
            exclude_inactive: false,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        listed(q).await,
        [
            "i-05 stale   stale",
            "i-04 unreported Inactive terminated or deregistered none",
        ]
    );
    // Opted out: i-04 is an unreported instance like any other.
    let q = open(
        dir.path(),
        "latest",
        ReportOptions {
            exclude_inactive: false,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        none_group(q).await,
        ["(none)", "2", "1", "0", "0", "1", "0", "50.0"]
    );
    let q = open(
        dir.path(),
        "latest",
        ReportOptions {
            rejected_non_compliant: true,
            ..Default::default()
        },
    )
    .await;
    // i-04 counted apart; i-06's rejected install makes it non-compliant.
    assert_eq!(
        none_group(q).await,
        ["(none)", "1", "0", "1", "0", "0", "1", "0.0"]
    );
    let err = LakeQuery::open_with(
        dir.path(),
        AsOf::Latest,
        ReportParams::default(),
        ReportOptions {
            trend_runs: 0,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("trend_runs"), "{err}");
}
