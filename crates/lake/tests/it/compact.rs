//! `lake compact`: a day's runs rewritten into fewer files as a new record revision, every row
//! kept once, nothing overwritten, the superseded files left to `gc`.

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use patchlake_lake::{LakeOptions, RunMeta};
use patchlake_model::{CoverageStatus, RunRecord, Table};

use crate::backend::{Backend, TestLake};
use crate::fixtures::{run_id, sort_keys, task};

const DAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();

/// Every row of `table` in the files `record` names, as sort keys, in file order.
async fn rows(t: &TestLake, record: &RunRecord, table: Table) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for f in record.files.iter().filter(|f| f.table == table.name()) {
        out.extend(sort_keys(table, &t.read(&f.path).await));
    }
    out
}

async fn compact_rewrites_a_days_runs_into_fewer_files_as_a_new_revision(backend: Backend) {
    // Tiny parts at finalize: every task's rows close a file.
    let t = TestLake::new(backend).await.with_options(LakeOptions {
        target_file_bytes: 1,
        ..LakeOptions::default()
    });
    let mut before = Vec::new();
    for hour in [1, 2] {
        let run = run_id(hour);
        for (account, region) in [
            ("000000000001", "us-east-1"),
            ("000000000001", "eu-west-1"),
            ("000000000002", "us-east-1"),
        ] {
            t.lake
                .stage(&run, &task(account, region, 3, 2, CoverageStatus::Ok))
                .await
                .unwrap();
        }
        before.push(t.lake.finalize(&RunMeta::new(run)).await.unwrap());
    }
    let patches_files = |r: &RunRecord| {
        r.files
            .iter()
            .filter(|f| f.table == "instance_patches")
            .count()
    };
    assert!(patches_files(&before[0]) >= 3, "{:?}", before[0].files);
    let keys_before = t.keys("").await;

    let lake = t.lake.clone().with_options(LakeOptions::default());
    // Dry run: reports, writes nothing.
    let dry = lake.compact(DAY, true).await.unwrap();
    assert_eq!(dry.runs, 2);
    assert_eq!(dry.compacted.len(), 2);
    assert!(dry.compacted.iter().all(|c| c.revision == 1));
    assert_eq!(t.keys("").await, keys_before);

    // Another day: nothing.
    let other = lake
        .compact(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), false)
        .await
        .unwrap();
    assert_eq!((other.runs, other.compacted.len()), (0, 0));

    // A compaction that crashed before its record left a part behind: skipped past, kept.
    let leftover = format!(
        "instance_patches/dt=2026-11-25/run_id={}/part-00050.parquet",
        before[0].run_id
    );
    lake.storage().put(&leftover, b"x".to_vec()).await.unwrap();

    let done = lake.compact(DAY, false).await.unwrap();
    assert_eq!(done.compacted.len(), 2);
    let after = lake.committed_runs().await.unwrap();
    assert_eq!(after.len(), 2);
    for (old, new) in before.iter().zip(&after) {
        // Same run, same counts and metadata; fewer files; the same rows in the same order.
        assert_eq!(new.run_id, old.run_id);
        assert_eq!(new.row_counts, old.row_counts);
        assert_eq!(
            (new.started_at, new.finished_at, new.tasks_ok),
            (old.started_at, old.finished_at, old.tasks_ok)
        );
        assert!(new.files.len() < old.files.len());
        assert_eq!(patches_files(new), 1);
        for table in Table::DATA {
            assert_eq!(
                rows(&t, new, table).await,
                rows(&t, old, table).await,
                "{table}"
            );
        }
        assert_eq!(&lake.run(&new.run_id).await.unwrap(), new);
        // Nothing was overwritten: the old files are intact, and new keys are fresh.
        for f in &old.files {
            assert_eq!(t.size(&f.path).await, Some(f.bytes as u64), "{}", f.path);
        }
        // Superseded files are not damage.
        let verified = lake.verify(&new.run_id).await.unwrap();
        let unexpected: Vec<_> = verified
            .problems
            .iter()
            .filter(|p| p.path != leftover)
            .collect();
        assert!(unexpected.is_empty(), "{verified}");
    }
    let new_patches = after[0]
        .files
        .iter()
        .find(|f| f.table == "instance_patches")
        .unwrap();
    assert!(
        new_patches.path.ends_with("part-00051.parquet"),
        "{}",
        new_patches.path
    );
    assert_eq!(t.size(&leftover).await, Some(1));

    // Compacting again finds nothing to do.
    let again = lake.compact(DAY, false).await.unwrap();
    assert!(again.compacted.is_empty(), "{again:?}");

    // gc within the window removes only the superseded files; the runs read the same.
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
    let gc = lake.gc(TimeDelta::days(30), now, false).await.unwrap();
    assert!(gc.expired_runs.is_empty());
    assert_eq!(gc.superseded.len(), 2);
    let live: Vec<&str> = after
        .iter()
        .flat_map(|r| r.files.iter().map(|f| f.path.as_str()))
        .collect();
    assert!(
        gc.keys.iter().all(|k| !live.contains(&k.as_str())),
        "{:?}",
        gc.keys
    );
    assert!(
        gc.keys.iter().all(|k| !k.starts_with("runs/")),
        "{:?}",
        gc.keys
    );
    for old in &before {
        for f in old
            .files
            .iter()
            .filter(|f| !live.contains(&f.path.as_str()))
        {
            assert_eq!(
                t.size(&f.path).await,
                None,
                "{} should be collected",
                f.path
            );
        }
    }
    assert_eq!(lake.committed_runs().await.unwrap(), after);
    for r in &after {
        let verified = lake.verify(&r.run_id).await.unwrap();
        assert!(
            verified.problems.iter().all(|p| p.path == leftover),
            "{verified}"
        );
    }
    t.assert_owner_always_sent();
}

crate::on_both_backends!(compact_rewrites_a_days_runs_into_fewer_files_as_a_new_revision);
