//! Verification and corrupt files.

use patchlake_lake::{Error, Lake, Problem, RunMeta};
use patchlake_model::CoverageStatus;

use crate::backend::{Backend, TestLake};
use crate::fixtures::{run_id, task};

async fn committed(t: &TestLake) -> (Lake, patchlake_model::RunRecord) {
    let lake = t.lake.clone();
    let run = run_id(4);
    lake.stage(
        &run,
        &task("000000000001", "us-east-1", 6, 5, CoverageStatus::Ok),
    )
    .await
    .unwrap();
    lake.stage(
        &run,
        &task("000000000002", "us-east-1", 2, 5, CoverageStatus::Ok),
    )
    .await
    .unwrap();
    let record = lake.finalize(&RunMeta::new(run)).await.unwrap();
    (lake, record)
}

async fn verify_passes_on_an_intact_run(backend: Backend) {
    let t = TestLake::new(backend).await;
    let (lake, record) = committed(&t).await;
    let report = lake.verify(&record.run_id).await.unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.files_checked, 8);
    assert_eq!(
        report.bytes_checked as i64,
        record.files.iter().map(|f| f.bytes).sum::<i64>()
    );
}

async fn verify_names_a_flipped_byte_a_deleted_file_and_an_unlisted_one(backend: Backend) {
    let t = TestLake::new(backend).await;
    let (lake, record) = committed(&t).await;
    let patches = record
        .files
        .iter()
        .find(|f| f.table == "instance_patches")
        .unwrap();
    let instances = record
        .files
        .iter()
        .find(|f| f.table == "instances")
        .unwrap();

    t.flip_byte(&patches.path).await;
    lake.storage().delete(&instances.path).await.unwrap();
    let unlisted = format!(
        "coverage/dt=2026-11-25/run_id={}/part-00001.parquet",
        record.run_id
    );
    lake.storage().put(&unlisted, b"x".to_vec()).await.unwrap();

    let report = lake.verify(&record.run_id).await.unwrap();
    assert!(!report.is_ok());
    let text = report.to_string();
    let find = |path: &str| {
        report
            .problems
            .iter()
            .filter(|p| p.path == path)
            .map(|p| &p.problem)
            .collect::<Vec<_>>()
    };
    assert!(
        matches!(find(&patches.path)[..], [Problem::Sha256 { .. }, ..]),
        "{text}"
    );
    assert_eq!(find(&instances.path), [&Problem::Missing], "{text}");
    assert_eq!(find(&unlisted), [&Problem::Unlisted], "{text}");
    assert!(
        text.contains(&patches.path) && text.contains("missing"),
        "{text}"
    );
    // Same size, so only the hash (and perhaps decoding) notices.
    assert!(
        !report
            .problems
            .iter()
            .any(|p| matches!(p.problem, Problem::Bytes { .. })),
        "{text}"
    );
}

async fn a_corrupt_runs_record_is_an_error_naming_the_file(backend: Backend) {
    let t = TestLake::new(backend).await;
    let (lake, record) = committed(&t).await;
    let key = format!(
        "runs/dt=2026-11-25/run_id={}/part-00000.parquet",
        record.run_id
    );
    let mut bytes = lake.storage().get(&key).await.unwrap();
    bytes.truncate(bytes.len() - 20);
    lake.storage().put(&key, bytes).await.unwrap();
    for err in [
        lake.committed_runs().await.unwrap_err(),
        lake.run(&record.run_id).await.unwrap_err(),
        lake.verify(&record.run_id).await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&key), "{err}");
    }
}

async fn a_corrupt_staged_file_fails_finalize_naming_it(backend: Backend) {
    let t = TestLake::new(backend).await;
    let lake = &t.lake;
    let run = run_id(6);
    let staged = lake
        .stage(
            &run,
            &task("000000000001", "us-east-1", 3, 2, CoverageStatus::Ok),
        )
        .await
        .unwrap();
    let patches = staged
        .files
        .iter()
        .find(|f| f.table == patchlake_model::Table::InstancePatches)
        .unwrap();
    lake.storage()
        .put(&patches.key, b"PAR1 garbage PAR1".to_vec())
        .await
        .unwrap();
    let err = lake.finalize(&RunMeta::new(run.clone())).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&patches.key), "{err}");
    assert!(
        lake.committed_runs().await.unwrap().is_empty(),
        "nothing committed"
    );
    assert!(
        !lake.staged_runs().await.unwrap().is_empty(),
        "staging kept for inspection"
    );
}

crate::on_both_backends!(
    verify_passes_on_an_intact_run,
    verify_names_a_flipped_byte_a_deleted_file_and_an_unlisted_one,
    a_corrupt_runs_record_is_an_error_naming_the_file,
    a_corrupt_staged_file_fails_finalize_naming_it,
);
