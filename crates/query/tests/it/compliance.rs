//! The compliance view and the named reports over the hand-built fleet, whose every number
//! is worked out by hand: edge cases (the staleness boundary, an OS without a baseline, a
//! group registered for another OS or in another account) the simulator's lake leaves to
//! chance. Golden output of every query over the simulator's lake is in
//! `tests/it/golden.rs` at the workspace root.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use patchlake_lake::Lake;
use patchlake_query::{AsOf, Error, LakeQuery, ReportParams};

use crate::fixtures::{commit, fleet, run_id};

/// Rows as strings ("" for null), for exact comparisons.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

async fn query(params: ReportParams) -> (tempfile::TempDir, LakeQuery) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    commit(&lake, &run_id(25, 12), &fleet()).await;
    let q = LakeQuery::open(dir.path(), AsOf::Latest, params)
        .await
        .unwrap();
    (dir, q)
}

#[tokio::test]
async fn instance_compliance_follows_the_definition() {
    let (_dir, q) = query(ReportParams::default()).await;
    let batches = q
        .sql(
            "SELECT instance_id, status, baseline_id, baseline_source, reported_baseline_id, baseline_drift
             FROM instance_compliance ORDER BY instance_id",
        )
        .await
        .unwrap();
    let expected = [
        [
            "i-01",
            "compliant",
            "pb-a-web",
            "patch_group",
            "pb-a-web",
            "false",
        ],
        [
            "i-02",
            "non_compliant",
            "pb-a-web",
            "patch_group",
            "pb-a-al2023-default",
            "true",
        ],
        [
            "i-03",
            "non_compliant",
            "pb-a-al2023-default",
            "default",
            "pb-a-al2023-default",
            "false",
        ],
        [
            "i-04",
            "unreported",
            "pb-a-al2023-default",
            "default",
            "",
            "false",
        ],
        [
            "i-05",
            "stale",
            "pb-a-db-win",
            "patch_group",
            "pb-a-db-win",
            "false",
        ],
        [
            "i-06",
            "compliant",
            "pb-a-win-default",
            "default",
            "pb-a-win-default",
            "false",
        ],
        ["i-07", "compliant", "", "", "pb-elsewhere", "true"],
        [
            "i-08",
            "non_compliant",
            "pb-b-al2023-default",
            "default",
            "pb-b-al2023-default",
            "false",
        ],
    ];
    assert_eq!(
        rows(&batches),
        expected.map(|r| r.map(str::to_owned).to_vec()).to_vec()
    );
}

#[tokio::test]
async fn the_staleness_window_is_a_parameter() {
    let (_dir, q) = query(ReportParams {
        stale_after_days: 0,
    })
    .await;
    let batches = q
        .sql("SELECT status, COUNT(*) FROM instance_compliance GROUP BY status ORDER BY status")
        .await
        .unwrap();
    // With no window, every instance scanned before the run started is stale.
    assert_eq!(
        rows(&batches),
        [["stale", "7"], ["unreported", "1"]].map(|r| r.map(str::to_owned).to_vec())
    );
    let params = q
        .sql("SELECT run_id, stale_after_days, stale_before FROM params")
        .await
        .unwrap();
    assert_eq!(
        rows(&params),
        [[
            q.run().run_id.to_string(),
            "0".into(),
            "2026-11-25T12:00:00Z".into()
        ]]
    );
}

#[tokio::test]
async fn compliance_by_patch_group_counts_by_hand() {
    let (_dir, q) = query(ReportParams::default()).await;
    let batches = q.report("compliance_by_patch_group").await.unwrap();
    let names: Vec<_> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "patch_group",
            "instances",
            "compliant",
            "non_compliant",
            "stale",
            "unreported",
            "inactive",
            "compliance_pct",
            "missing",
            "failed",
            "installed_pending_reboot",
            "critical_non_compliant",
            "security_non_compliant"
        ]
    );
    let expected = [
        // i-04 unreported, i-06 compliant
        [
            "(none)", "2", "1", "0", "0", "1", "0", "50.0", "0", "0", "0", "0", "0",
        ],
        // i-03 non-compliant (pending reboot), i-05 stale but its 5 missing count
        [
            "db", "2", "0", "1", "1", "0", "0", "0.0", "5", "0", "1", "1", "0",
        ],
        // i-01, i-07 compliant; i-02 (2 missing, 1 failed), i-08 (1 missing) non-compliant
        [
            "web", "4", "2", "2", "0", "0", "0", "50.0", "3", "1", "0", "2", "1",
        ],
    ];
    assert_eq!(
        rows(&batches),
        expected.map(|r| r.map(str::to_owned).to_vec()).to_vec()
    );
}

#[tokio::test]
async fn compliance_by_baseline_counts_by_hand() {
    let (_dir, q) = query(ReportParams::default()).await;
    let batches = q.report("compliance_by_baseline").await.unwrap();
    let got: Vec<Vec<String>> = rows(&batches)
        .into_iter()
        .map(|r| [&r[..8], &r[9..10]].concat())
        .collect();
    let expected = [
        ["(none)", "", "", "1", "1", "0", "0", "0", "100.0"],
        [
            "pb-a-al2023-default",
            "pb-a-al2023-default-name",
            "AMAZON_LINUX_2023",
            "2",
            "0",
            "1",
            "0",
            "1",
            "0.0",
        ],
        [
            "pb-a-db-win",
            "pb-a-db-win-name",
            "WINDOWS",
            "1",
            "0",
            "0",
            "1",
            "0",
            "0.0",
        ],
        [
            "pb-a-web",
            "pb-a-web-name",
            "AMAZON_LINUX_2023",
            "2",
            "1",
            "1",
            "0",
            "0",
            "50.0",
        ],
        [
            "pb-a-win-default",
            "pb-a-win-default-name",
            "WINDOWS",
            "1",
            "1",
            "0",
            "0",
            "0",
            "100.0",
        ],
        [
            "pb-b-al2023-default",
            "pb-b-al2023-default-name",
            "AMAZON_LINUX_2023",
            "1",
            "0",
            "1",
            "0",
            "0",
            "0.0",
        ],
    ];
    assert_eq!(
        got,
        expected.map(|r| r.map(str::to_owned).to_vec()).to_vec()
    );
}

#[tokio::test]
async fn missing_critical_patches_lists_critical_and_security_patches_with_cves() {
    let (_dir, q) = query(ReportParams::default()).await;
    let batches = q.report("missing_critical_patches").await.unwrap();
    let got: Vec<Vec<String>> = rows(&batches)
        .into_iter()
        .map(|r| vec![r[2].clone(), r[6].clone(), r[10].clone(), r[11].clone()])
        .collect();
    let expected = [
        ["i-02", "kernel", "FAILED", "[CVE-2026-0003]"],
        [
            "i-02",
            "openssl",
            "Missing",
            "[CVE-2026-0001, CVE-2026-0002]",
        ],
        ["i-05", "KB5000001", "Missing", "[CVE-2026-1000]"],
    ];
    assert_eq!(
        got,
        expected.map(|r| r.map(str::to_owned).to_vec()).to_vec()
    );
}

#[tokio::test]
async fn unknown_reports_and_writes_are_refused() {
    let (_dir, q) = query(ReportParams::default()).await;
    let err = q.report("compliance").await.unwrap_err();
    assert!(matches!(err, Error::UnknownReport { .. }), "{err}");
    assert!(
        err.to_string().contains("compliance_by_patch_group"),
        "{err}"
    );
    for ddl in [
        "CREATE TABLE x AS SELECT 1",
        "DROP VIEW instance_compliance",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let err = q.sql(ddl).await.unwrap_err();
        assert!(matches!(err, Error::Sql { .. }), "{ddl}: {err}");
    }
    assert!(
        q.sql("SELECT COUNT(*) FROM instance_compliance")
            .await
            .is_ok()
    );
    let empty = q
        .sql("SELECT instance_id, missing FROM instance_compliance WHERE false")
        .await
        .unwrap();
    assert_eq!(empty.len(), 1, "an empty result keeps its schema");
    assert_eq!(empty[0].num_rows(), 0);
    assert_eq!(empty[0].schema().field(1).name(), "missing");
}
