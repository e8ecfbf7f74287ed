//! Which run a query sees, and that uncommitted runs are never visible.

use patchlake_lake::Lake;
use patchlake_model::records::CoverageStatus;
use patchlake_model::records::TaskOutput;
use patchlake_query::{AsOf, Error, LakeQuery, ReportParams};

use crate::fixtures::{A, AL2023, commit, coverage, instance, run_id};

fn task(instances: usize) -> TaskOutput {
    let mut t = TaskOutput::empty(coverage(A, "us-east-1", CoverageStatus::Ok));
    for i in 0..instances {
        instance(&mut t, &format!("i-{i:02}"), Some(AL2023), None);
    }
    t
}

async fn count(q: &LakeQuery, sql: &str) -> i64 {
    let batches = q.sql(sql).await.unwrap();
    let col = batches[0].column(0);
    datafusion::arrow::array::AsArray::as_primitive::<datafusion::arrow::datatypes::Int64Type>(col)
        .value(0)
}

#[tokio::test]
async fn as_of_selects_committed_runs_only() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let (r20, r25a, r25b, r26) = (run_id(20, 6), run_id(25, 8), run_id(25, 12), run_id(26, 6));
    commit(&lake, &r20, &[task(1)]).await;
    commit(&lake, &r25a, &[task(2)]).await;
    commit(&lake, &r25b, &[task(3)]).await;
    // In flight: staged, never finalized.
    lake.stage(&r26, &task(4)).await.unwrap();
    // Crashed mid-finalize: a data file in the run's partition, but no runs record.
    let committed = lake.run(&r25b).await.unwrap();
    let instances = committed
        .files
        .iter()
        .find(|f| f.table == "instances")
        .unwrap();
    let half = format!("instances/dt=2026-11-26/run_id={r26}/part-00000.parquet");
    std::fs::create_dir_all(dir.path().join(&half).parent().unwrap()).unwrap();
    std::fs::copy(dir.path().join(&instances.path), dir.path().join(&half)).unwrap();

    let open = |as_of: &str| {
        let as_of: AsOf = as_of.parse().unwrap();
        LakeQuery::open(dir.path(), as_of, ReportParams::default())
    };
    let q = open("latest").await.unwrap();
    assert_eq!(q.run().run_id, r25b);
    assert_eq!(count(&q, "SELECT COUNT(*) FROM instances").await, 3);
    assert_eq!(
        count(&q, "SELECT COUNT(*) FROM history_instances").await,
        1 + 2 + 3
    );
    assert_eq!(count(&q, "SELECT COUNT(*) FROM history_runs").await, 3);
    assert_eq!(count(&q, "SELECT COUNT(*) FROM runs").await, 1);
    let per_run = q
        .sql("SELECT run_id, dt, COUNT(*) AS n FROM history_instances GROUP BY run_id, dt ORDER BY run_id")
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&per_run)
        .unwrap()
        .to_string();
    assert!(
        text.contains(&format!("| {r20} | 2026-11-20 | 1 |")),
        "{text}"
    );
    assert!(
        text.contains(&format!("| {r25b} | 2026-11-25 | 3 |")),
        "{text}"
    );
    assert!(
        !text.contains(r26.as_str()),
        "uncommitted run visible:\n{text}"
    );
    let filtered = format!("SELECT COUNT(*) FROM history_instances WHERE run_id = '{r25a}'");
    assert_eq!(count(&q, &filtered).await, 2);
    assert_eq!(
        count(
            &q,
            "SELECT COUNT(*) FROM history_coverage WHERE dt = '2026-11-25'"
        )
        .await,
        2
    );

    assert_eq!(open("2026-11-25").await.unwrap().run().run_id, r25b);
    assert_eq!(open("2026-11-30").await.unwrap().run().run_id, r25b);
    let q = open("2026-11-24").await.unwrap();
    assert_eq!(q.run().run_id, r20);
    assert_eq!(count(&q, "SELECT COUNT(*) FROM instances").await, 1);
    assert_eq!(open(r25a.as_str()).await.unwrap().run().run_id, r25a);

    let err = open("2026-11-19").await.unwrap_err();
    assert!(matches!(err, Error::NoRunAsOf { .. }), "{err}");
    assert!(err.to_string().contains(r20.as_str()), "{err}");
    let err = open(r26.as_str()).await.unwrap_err();
    assert!(
        err.to_string().contains("not committed") && err.to_string().contains("staged"),
        "{err}"
    );
    let err = open(run_id(27, 1).as_str()).await.unwrap_err();
    assert!(err.to_string().contains("no such run"), "{err}");
}

#[tokio::test]
async fn empty_and_missing_lakes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = LakeQuery::open(
        &dir.path().join("nope"),
        AsOf::Latest,
        ReportParams::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::LakeNotFound { .. }), "{err}");
    assert!(err.to_string().contains("nope"), "{err}");

    let lake = Lake::open(dir.path()).unwrap();
    lake.stage(&run_id(26, 6), &task(2)).await.unwrap();
    for as_of in [AsOf::Latest, "2026-11-26".parse().unwrap()] {
        let err = LakeQuery::open(dir.path(), as_of, ReportParams::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NoCommittedRuns { .. }), "{err}");
    }
    let err = LakeQuery::open(
        dir.path(),
        AsOf::Latest,
        ReportParams {
            stale_after_days: -1,
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("stale_after_days"), "{err}");
}

#[tokio::test]
async fn a_corrupt_committed_file_fails_the_query_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let record = commit(&lake, &run_id(25, 12), &[task(3)]).await;
    let file = record
        .files
        .iter()
        .find(|f| f.table == "instances")
        .unwrap();
    std::fs::write(dir.path().join(&file.path), b"PAR1 not really PAR1").unwrap();
    let q = LakeQuery::open(dir.path(), AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    let err = q
        .sql("SELECT COUNT(*) FROM instances WHERE instance_id <> ''")
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&file.path), "{err}");
}
