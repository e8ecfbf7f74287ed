//! Garbage collection removes what fell out of the retention window, and nothing else.

use chrono::{TimeDelta, TimeZone, Utc};
use patchlake_lake::RunMeta;
use patchlake_model::CoverageStatus;

use crate::backend::{Backend, TestLake};
use crate::fixtures::{run_id, task};

async fn gc_removes_only_expired_runs_and_staging(backend: Backend) {
    let t = TestLake::new(backend).await;
    let lake = &t.lake;
    let stage = |hour| async move {
        let run = run_id(hour);
        lake.stage(
            &run,
            &task("000000000001", "us-east-1", 3, 2, CoverageStatus::Ok),
        )
        .await
        .unwrap();
        run
    };
    let old_committed = stage(1).await;
    lake.finalize(&RunMeta::new(old_committed.clone()))
        .await
        .unwrap();
    let old_abandoned = stage(2).await;
    // A finalize that crashed before its runs record: parts, no record, no staging.
    let old_crashed = run_id(3);
    let crashed_part = format!("instances/dt=2026-11-25/run_id={old_crashed}/part-00000.parquet");
    lake.storage()
        .put(&crashed_part, b"x".to_vec())
        .await
        .unwrap();
    let recent_committed = stage(10).await;
    lake.finalize(&RunMeta::new(recent_committed.clone()))
        .await
        .unwrap();
    let recent_staged = stage(11).await;
    // Not the lake's: never collected.
    for foreign in [
        "notes/readme.txt",
        "instances/README.txt",
        "_staging/not-a-run/x",
    ] {
        lake.storage().put(foreign, b"keep".to_vec()).await.unwrap();
    }

    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    let retention = TimeDelta::hours(6);
    let before = t.keys("").await;
    let dry = lake.gc(retention, now, true).await.unwrap();
    assert_eq!(t.keys("").await, before, "a dry run deletes nothing");
    assert!(dry.dry_run);
    assert_eq!(dry.expired_runs, std::slice::from_ref(&old_committed));
    assert_eq!(
        dry.uncommitted_partitions,
        std::slice::from_ref(&old_crashed)
    );
    assert_eq!(dry.staging, std::slice::from_ref(&old_abandoned));
    let doomed = |k: &String| {
        [&old_committed, &old_abandoned, &old_crashed]
            .iter()
            .any(|r| k.contains(r.as_str()))
    };
    let expected: Vec<String> = before.iter().filter(|k| doomed(k)).cloned().collect();
    assert_eq!(dry.keys, expected);
    assert!(dry.bytes > 0);

    let done = lake.gc(retention, now, false).await.unwrap();
    assert_eq!(
        (done.keys.clone(), done.bytes),
        (dry.keys.clone(), dry.bytes)
    );
    let after = t.keys("").await;
    let kept: Vec<String> = before.iter().filter(|k| !doomed(k)).cloned().collect();
    assert_eq!(after, kept);
    let committed: Vec<_> = lake.committed_run_ids().await.unwrap();
    assert_eq!(committed, std::slice::from_ref(&recent_committed));
    assert!(lake.verify(&recent_committed).await.unwrap().is_ok());
    let staged: Vec<_> = lake
        .staged_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(staged, [recent_staged]);

    // Nothing left to collect.
    let again = lake.gc(retention, now, false).await.unwrap();
    assert!(again.keys.is_empty(), "{again:?}");
    t.assert_owner_always_sent();
}

crate::on_both_backends!(gc_removes_only_expired_runs_and_staging);
