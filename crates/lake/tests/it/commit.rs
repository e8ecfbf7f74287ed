//! Stage → finalize → read back.

use futures::future::BoxFuture;
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;
use patchlake_lake::{Error, Lake, LakeOptions, LocalFile, ObjectMeta, RunMeta, Storage};
use patchlake_model::{CoverageStatus, Table};

use crate::backend::{Backend, TestLake};
use crate::fixtures::{run_id, sort_keys, task};

const A: &str = "000000000002";
const B: &str = "000000000001";

async fn staged_lake(t: &TestLake) -> (Lake, patchlake_model::RunId) {
    let lake = t.lake.clone();
    let run = run_id(1);
    // Staged out of (account, region) order, with rows in descending order inside each task.
    lake.stage(&run, &task(A, "us-east-1", 4, 3, CoverageStatus::Ok))
        .await
        .unwrap();
    lake.stage(&run, &task(B, "us-west-2", 3, 2, CoverageStatus::Partial))
        .await
        .unwrap();
    lake.stage(&run, &task(B, "eu-west-1", 2, 0, CoverageStatus::Ok))
        .await
        .unwrap();
    let mut failed = task(A, "eu-west-1", 0, 0, CoverageStatus::Failed);
    failed.baselines.clear();
    lake.stage(&run, &failed).await.unwrap();
    (lake, run)
}

async fn finalize_commits_sorted_tables_and_a_complete_runs_record(backend: Backend) {
    let t = TestLake::new(backend).await;
    let (lake, run) = staged_lake(&t).await;
    let mut meta = RunMeta::new(run.clone());
    meta.config_sha256 = "ab".repeat(32);
    meta.accounts = 2;
    meta.regions = 3;
    let record = lake.finalize(&meta).await.unwrap();

    assert_eq!(record.run_id, run);
    assert_eq!(
        (record.tasks_ok, record.tasks_partial, record.tasks_failed),
        (2, 1, 1)
    );
    assert_eq!((record.accounts, record.regions), (2, 3));
    assert_eq!(record.config_sha256, "ab".repeat(32));
    assert_eq!(record.row_counts["instances"], 9);
    assert_eq!(record.row_counts["instance_patches"], 4 * 3 + 3 * 2);
    assert_eq!(record.row_counts["coverage"], 4);
    assert_eq!(record.row_counts["baselines"], 3);
    assert_eq!(record.row_counts["maintenance_windows"], 0);
    assert_eq!(record.row_counts.len(), Table::DATA.len());

    // The record read back is the one returned, and it is the only committed run.
    assert_eq!(lake.committed_runs().await.unwrap(), vec![record.clone()]);
    assert_eq!(lake.run(&run).await.unwrap(), record);
    assert_eq!(lake.latest_run().await.unwrap(), Some(record.clone()));

    for table in Table::DATA {
        let files: Vec<_> = record
            .files
            .iter()
            .filter(|f| f.table == table.name())
            .collect();
        assert_eq!(files.len(), 1, "{table}: one part, even when empty");
        let file = files[0];
        assert_eq!(
            file.path,
            format!("{table}/dt=2026-11-25/run_id={run}/part-00000.parquet")
        );
        let batch = t.read(&file.path).await;
        assert_eq!(batch.schema().fields(), table.schema().fields(), "{table}");
        assert_eq!(batch.schema().metadata()["patchlake.table"], table.name());
        assert_eq!(batch.num_rows() as i64, file.rows);
        assert_eq!(file.rows, record.row_counts[table.name()]);
        let keys = sort_keys(table, &batch);
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(
            keys,
            sorted,
            "{table} is sorted by {:?}",
            table.sort_columns()
        );
        assert_eq!(t.size(&file.path).await, Some(file.bytes as u64));
    }
    let instances = t.read(&record.files[0].path).await;
    assert_eq!(
        sort_keys(Table::Instances, &instances)[0],
        [B, "eu-west-1", "i-00000000000000000"]
    );

    // Parquet settings: ZSTD, page statistics, sorting metadata, created_by.
    let patches = record
        .files
        .iter()
        .find(|f| f.table == "instance_patches")
        .unwrap();
    let options = ReadOptionsBuilder::new().with_page_index().build();
    let local = lake.storage().get_file(&patches.path).await.unwrap();
    let file = std::fs::File::open(local.path()).unwrap();
    let reader = SerializedFileReader::new_with_options(file, options).unwrap();
    let meta = reader.metadata();
    assert!(
        meta.file_metadata()
            .created_by()
            .unwrap()
            .starts_with("patchlake ")
    );
    let rg = meta.row_group(0);
    assert!(matches!(rg.column(0).compression(), Compression::ZSTD(_)));
    assert!(rg.column(0).statistics().is_some());
    let sorting: Vec<i32> = rg
        .sorting_columns()
        .unwrap()
        .iter()
        .map(|c| c.column_idx)
        .collect();
    assert_eq!(sorting, [0, 1, 2, 3]);
    assert!(meta.column_index().is_some() && meta.offset_index().is_some());

    // Staging is gone.
    assert!(lake.staged_runs().await.unwrap().is_empty());
    assert!(t.keys("_staging").await.is_empty());
    t.assert_owner_always_sent();
}

async fn restaging_a_task_replaces_its_rows(backend: Backend) {
    let t = TestLake::new(backend).await;
    let lake = &t.lake;
    let run = run_id(2);
    lake.stage(&run, &task(A, "us-east-1", 5, 4, CoverageStatus::Partial))
        .await
        .unwrap();
    // The retry found fewer instances and no patches at all.
    let staged = lake
        .stage(&run, &task(A, "us-east-1", 3, 0, CoverageStatus::Ok))
        .await
        .unwrap();
    assert_eq!(staged.rows(Table::Instances), 3);
    assert_eq!(staged.rows(Table::InstancePatches), 0);
    assert_eq!(staged.files.last().unwrap().table, Table::Coverage);
    let record = lake.finalize(&RunMeta::new(run)).await.unwrap();
    assert_eq!(record.row_counts["instances"], 3);
    assert_eq!(record.row_counts["patch_states"], 3);
    assert_eq!(
        record.row_counts["instance_patches"], 0,
        "the first attempt's patches are gone"
    );
    assert_eq!(record.row_counts["coverage"], 1);
    assert_eq!((record.tasks_ok, record.tasks_partial), (1, 0));
}

async fn an_unfinalized_run_is_invisible_and_finalize_refuses_twice(backend: Backend) {
    let t = TestLake::new(backend).await;
    let (lake, first) = staged_lake(&t).await;
    lake.finalize(&RunMeta::new(first.clone())).await.unwrap();

    let second = run_id(5);
    lake.stage(&second, &task(A, "us-east-1", 2, 1, CoverageStatus::Ok))
        .await
        .unwrap();
    let committed: Vec<_> = lake.committed_run_ids().await.unwrap();
    assert_eq!(committed, std::slice::from_ref(&first));
    assert_eq!(lake.latest_run().await.unwrap().unwrap().run_id, first);
    let err = lake.run(&second).await.unwrap_err();
    assert!(
        matches!(err, Error::NotCommitted { .. }) && err.to_string().contains("staged"),
        "{err}"
    );
    let err = lake.run(&run_id(7)).await.unwrap_err();
    assert!(
        err.is_not_found() && err.to_string().contains("no such run"),
        "{err}"
    );

    let staged = lake.staged_runs().await.unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(
        (
            staged[0].run_id.clone(),
            staged[0].tasks,
            staged[0].committed
        ),
        (second.clone(), 1, false)
    );

    let err = lake
        .finalize(&RunMeta::new(first.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyCommitted { .. }), "{err}");
    assert!(err.to_string().contains(first.as_str()), "{err}");

    let err = lake.finalize(&RunMeta::new(run_id(9))).await.unwrap_err();
    assert!(matches!(err, Error::NothingStaged { .. }), "{err}");

    assert_eq!(
        lake.discard_staging(&second).await.unwrap(),
        5,
        "5 non-empty tables"
    );
    assert!(lake.staged_runs().await.unwrap().is_empty());
}

async fn large_tables_are_split_into_ordered_parts(backend: Backend) {
    let t = TestLake::new(backend).await.with_options(LakeOptions {
        target_file_bytes: 1,
        row_group_rows: 1000,
    });
    let lake = &t.lake;
    let run = run_id(3);
    for (account, region) in [(A, "us-east-1"), (B, "us-east-1"), (B, "ap-south-1")] {
        lake.stage(&run, &task(account, region, 40, 50, CoverageStatus::Ok))
            .await
            .unwrap();
    }
    let record = lake.finalize(&RunMeta::new(run)).await.unwrap();
    let parts: Vec<_> = record
        .files
        .iter()
        .filter(|f| f.table == "instance_patches")
        .collect();
    assert_eq!(parts.len(), 3, "a part per write at a 1-byte target");
    let mut all = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        assert!(
            part.path.ends_with(&format!("part-{n:05}.parquet")),
            "{}",
            part.path
        );
        let batch = t.read(&part.path).await;
        assert_eq!(batch.num_rows(), 2000);
        let local = lake.storage().get_file(&part.path).await.unwrap();
        let file = std::fs::File::open(local.path()).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        use parquet::file::reader::FileReader;
        assert_eq!(reader.metadata().num_row_groups(), 2, "1000-row row groups");
        all.extend(sort_keys(Table::InstancePatches, &batch));
    }
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "parts are in order across files");
    assert_eq!(all[0][..2], [B.to_owned(), "ap-south-1".to_owned()]);
}

/// A task whose collector spilled most of its patch rows as compressed chunks stages and
/// commits exactly the rows, in the same order, as the same task held as values.
async fn spilled_patch_rows_stage_like_values(backend: Backend) {
    let t = TestLake::new(backend).await;
    let lake = &t.lake;
    let values = task(A, "us-east-1", 130, 1000, CoverageStatus::Ok);
    let mut spilled = values.clone();
    let rows = std::mem::take(&mut spilled.instance_patches);
    for chunk in rows.chunks(30_000) {
        spilled.instance_patches.extend_from_slice(chunk);
        spilled.spill_patches().unwrap();
    }
    assert!(spilled.spilled_patches.len() >= 2);
    assert!(spilled.instance_patches.len() < patchlake_model::PATCH_SPILL_ROWS);
    assert_eq!(spilled.instance_patch_count(), 130_000);

    let mut keys = Vec::new();
    for (hour, task) in [(4, &values), (5, &spilled)] {
        let run = run_id(hour);
        let staged = lake.stage(&run, task).await.unwrap();
        assert_eq!(staged.rows(Table::InstancePatches), 130_000);
        let record = lake.finalize(&RunMeta::new(run)).await.unwrap();
        assert_eq!(record.row_counts["instance_patches"], 130_000);
        let mut rows = Vec::new();
        for f in record
            .files
            .iter()
            .filter(|f| f.table == "instance_patches")
        {
            rows.extend(sort_keys(Table::InstancePatches, &t.read(&f.path).await));
        }
        keys.push(rows);
    }
    assert_eq!(keys[0], keys[1]);
}

async fn leftovers_of_an_interrupted_finalize_are_replaced(backend: Backend) {
    let t = TestLake::new(backend).await;
    let (lake, run) = staged_lake(&t).await;
    let stray = format!("instances/dt=2026-11-25/run_id={run}/part-00007.parquet");
    lake.storage()
        .put(&stray, b"half written".to_vec())
        .await
        .unwrap();
    // A data file of a task whose staging never finished (no coverage file) is ignored.
    let orphan = format!("_staging/{run}/instances/000000000009-us-east-1.parquet");
    let other = lake
        .storage()
        .get(&format!("_staging/{run}/instances/{A}-us-east-1.parquet"))
        .await
        .unwrap();
    lake.storage().put(&orphan, other).await.unwrap();

    let record = lake.finalize(&RunMeta::new(run.clone())).await.unwrap();
    assert!(lake.storage().head(&stray).await.unwrap().is_none());
    assert_eq!(record.row_counts["instances"], 9);
    assert!(lake.verify(&run).await.unwrap().is_ok());
}

async fn stage_rejects_rows_of_another_account_region(backend: Backend) {
    let t = TestLake::new(backend).await;
    let lake = &t.lake;
    let mut bad = task(A, "us-east-1", 2, 1, CoverageStatus::Ok);
    bad.instance_patches[1].region = "us-east-2".into();
    let err = lake.stage(&run_id(1), &bad).await.unwrap_err();
    assert!(matches!(err, Error::InvalidTask { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("instance_patches row 1") && msg.contains("us-east-2"),
        "{msg}"
    );

    let mut bad = task(A, "us-east-1", 1, 0, CoverageStatus::Ok);
    bad.coverage.account_id = "12345".into();
    let err = lake.stage(&run_id(1), &bad).await.unwrap_err();
    assert!(err.to_string().contains("12345"), "{err}");
    assert!(
        lake.staged_runs().await.unwrap().is_empty(),
        "nothing written"
    );
}

crate::on_both_backends!(
    finalize_commits_sorted_tables_and_a_complete_runs_record,
    restaging_a_task_replaces_its_rows,
    an_unfinalized_run_is_invisible_and_finalize_refuses_twice,
    large_tables_are_split_into_ordered_parts,
    spilled_patch_rows_stage_like_values,
    leftovers_of_an_interrupted_finalize_are_replaced,
    stage_rejects_rows_of_another_account_region,
    a_crash_before_the_runs_record_leaves_the_run_uncommitted,
);

/// Delegates to a real backend but fails writing any `runs` record: a crash between writing a
/// run's parts and committing it.
#[derive(Debug)]
struct CrashBeforeCommit(std::sync::Arc<dyn Storage>);

impl Storage for CrashBeforeCommit {
    fn url(&self, key: &str) -> String {
        self.0.url(key)
    }
    fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        self.0.local_path(key)
    }
    fn put<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, patchlake_lake::Result<()>> {
        self.0.put(key, data)
    }
    fn put_new<'a>(
        &'a self,
        key: &'a str,
        data: Vec<u8>,
    ) -> BoxFuture<'a, patchlake_lake::Result<()>> {
        if key.starts_with("runs/") {
            let path = self.url(key);
            return Box::pin(async move {
                Err(Error::Remote {
                    path,
                    detail: "injected crash".into(),
                })
            });
        }
        self.0.put_new(key, data)
    }
    fn put_file<'a>(
        &'a self,
        key: &'a str,
        local: &'a std::path::Path,
    ) -> BoxFuture<'a, patchlake_lake::Result<()>> {
        self.0.put_file(key, local)
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, patchlake_lake::Result<Vec<u8>>> {
        self.0.get(key)
    }
    fn get_file<'a>(&'a self, key: &'a str) -> BoxFuture<'a, patchlake_lake::Result<LocalFile>> {
        self.0.get_file(key)
    }
    fn head<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, patchlake_lake::Result<Option<ObjectMeta>>> {
        self.0.head(key)
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, patchlake_lake::Result<Vec<ObjectMeta>>> {
        self.0.list(prefix)
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, patchlake_lake::Result<()>> {
        self.0.delete(key)
    }
    fn delete_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, patchlake_lake::Result<usize>> {
        self.0.delete_prefix(prefix)
    }
}

async fn a_crash_before_the_runs_record_leaves_the_run_uncommitted(backend: Backend) {
    let t = TestLake::new(backend).await;
    let (lake, run) = staged_lake(&t).await;
    let crashing = Lake::with_storage(std::sync::Arc::new(CrashBeforeCommit(
        lake.storage().clone(),
    )));
    let err = crashing
        .finalize(&RunMeta::new(run.clone()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected crash"), "{err}");

    // The parts are written, but without a runs record the run does not exist for readers.
    assert!(
        !t.keys(&format!("instances/dt=2026-11-25/run_id={run}"))
            .await
            .is_empty()
    );
    assert!(lake.committed_runs().await.unwrap().is_empty());
    assert!(matches!(
        lake.run(&run).await.unwrap_err(),
        Error::NotCommitted { .. }
    ));
    let staged = lake.staged_runs().await.unwrap();
    assert_eq!((staged.len(), staged[0].committed), (1, false));

    // Finalizing again commits the run once, replacing the first attempt's parts.
    let record = lake.finalize(&RunMeta::new(run.clone())).await.unwrap();
    assert_eq!(record.row_counts["instances"], 9);
    assert_eq!(record.row_counts["instance_patches"], 4 * 3 + 3 * 2);
    assert_eq!(lake.committed_runs().await.unwrap(), vec![record]);
    assert!(lake.verify(&run).await.unwrap().is_ok());

    // Table files whose runs record is gone: named as such, not as an unknown run.
    lake.storage()
        .delete(&patchlake_lake::layout::runs_record_key(&run, 0))
        .await
        .unwrap();
    let err = lake.run(&run).await.unwrap_err().to_string();
    assert!(err.contains("table files but no runs record"), "{err}");
    t.assert_owner_always_sent();
}

/// A staged file larger than one read batch is sorted in runs that finalize spills and
/// merges: the committed rows are the staged ones, in order.
#[tokio::test]
async fn finalize_merges_a_task_larger_than_one_sort_run() {
    let t = TestLake::new(Backend::Local).await;
    let run = run_id(1);
    let mut big = task(A, "us-east-1", 700, 200, CoverageStatus::Ok);
    // Shuffled (a fixed permutation), so every run holds rows from all over the order.
    let n = big.instance_patches.len();
    assert!(n > 2 * 64 * 1024, "{n} rows: more than two sort runs");
    let rows = std::mem::take(&mut big.instance_patches);
    big.instance_patches = (0..n).map(|i| rows[(i * 7919) % n].clone()).collect();
    t.lake.stage(&run, &big).await.unwrap();
    let record = t.lake.finalize(&RunMeta::new(run)).await.unwrap();
    assert_eq!(record.row_counts["instance_patches"], n as i64);

    let file = record
        .files
        .iter()
        .find(|f| f.table == "instance_patches")
        .unwrap();
    let batch = t.read(&file.path).await;
    let keys = sort_keys(Table::InstancePatches, &batch);
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "committed rows are sorted");
    let mut staged = sort_keys(
        Table::InstancePatches,
        &patchlake_model::batch::instance_patches_batch(&big.instance_patches).unwrap(),
    );
    staged.sort();
    assert_eq!(keys, staged, "the same rows");
    // No scratch file of the merge is left behind.
    assert!(
        t.lake
            .storage()
            .list("")
            .await
            .unwrap()
            .iter()
            .all(|m| !m.key.contains("-runs-")),
    );
}
