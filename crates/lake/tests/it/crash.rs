//! Crashes at every step of a commit, with a previous run committed: readers see the previous
//! run only, and finishing the crashed run afterwards commits every row exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;
use patchlake_lake::{Error, Lake, LocalFile, ObjectMeta, RunMeta, Storage};
use patchlake_model::{CoverageStatus, RunId, Table};

use crate::backend::{Backend, TestLake};
use crate::fixtures::{run_id, task};

/// Delegates to a real backend but fails the `n`th part upload (`put_file`) and every `runs`
/// record write: a process dying after some tables are compacted.
#[derive(Debug)]
struct CrashAtPart {
    inner: Arc<dyn Storage>,
    parts_left: AtomicUsize,
}

fn crash(path: String) -> BoxFuture<'static, patchlake_lake::Result<()>> {
    Box::pin(async move {
        Err(Error::Remote {
            path,
            detail: "injected crash".into(),
        })
    })
}

impl Storage for CrashAtPart {
    fn url(&self, key: &str) -> String {
        self.inner.url(key)
    }
    fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        self.inner.local_path(key)
    }
    fn put<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, patchlake_lake::Result<()>> {
        self.inner.put(key, data)
    }
    fn put_new<'a>(
        &'a self,
        key: &'a str,
        data: Vec<u8>,
    ) -> BoxFuture<'a, patchlake_lake::Result<()>> {
        if key.starts_with("runs/") {
            return crash(self.url(key));
        }
        self.inner.put_new(key, data)
    }
    fn put_file<'a>(
        &'a self,
        key: &'a str,
        local: &'a std::path::Path,
    ) -> BoxFuture<'a, patchlake_lake::Result<()>> {
        let left = self.parts_left.load(Ordering::SeqCst);
        if left == 0 {
            return crash(self.url(key));
        }
        self.parts_left.store(left - 1, Ordering::SeqCst);
        self.inner.put_file(key, local)
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, patchlake_lake::Result<Vec<u8>>> {
        self.inner.get(key)
    }
    fn get_file<'a>(&'a self, key: &'a str) -> BoxFuture<'a, patchlake_lake::Result<LocalFile>> {
        self.inner.get_file(key)
    }
    fn head<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, patchlake_lake::Result<Option<ObjectMeta>>> {
        self.inner.head(key)
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, patchlake_lake::Result<Vec<ObjectMeta>>> {
        self.inner.list(prefix)
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, patchlake_lake::Result<()>> {
        self.inner.delete(key)
    }
    fn delete_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, patchlake_lake::Result<usize>> {
        self.inner.delete_prefix(prefix)
    }
}

const TASKS: [(&str, &str); 3] = [
    ("000000000001", "us-east-1"),
    ("000000000001", "eu-west-1"),
    ("000000000002", "us-east-1"),
];

async fn stage_all(lake: &Lake, run: &RunId) {
    for (account, region) in TASKS {
        lake.stage(run, &task(account, region, 4, 3, CoverageStatus::Ok))
            .await
            .unwrap();
    }
}

async fn readers_see_the_previous_run_until_a_crashed_run_is_finished(backend: Backend) {
    let t = TestLake::new(backend).await;
    let lake = t.lake.clone();
    let previous = run_id(1);
    stage_all(&lake, &previous).await;
    let committed = lake.finalize(&RunMeta::new(previous)).await.unwrap();

    // Crash after staging (before finalize), then after 0, 2 and every table's parts.
    let run = run_id(2);
    stage_all(&lake, &run).await;
    let only_previous = |runs: Vec<patchlake_model::RunRecord>| {
        assert_eq!(runs, vec![committed.clone()]);
    };
    only_previous(lake.committed_runs().await.unwrap());
    for parts in [0, 2, Table::DATA.len()] {
        let crashing = Lake::with_storage(Arc::new(CrashAtPart {
            inner: lake.storage().clone(),
            parts_left: AtomicUsize::new(parts),
        }));
        let err = crashing
            .finalize(&RunMeta::new(run.clone()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("injected crash"), "{err}");
        only_previous(lake.committed_runs().await.unwrap());
        assert_eq!(lake.latest_run().await.unwrap(), Some(committed.clone()));
        assert!(lake.run(&run).await.unwrap_err().is_not_found());
    }

    // Resuming (finalize from another process) commits each row once.
    let record = lake.finalize(&RunMeta::new(run.clone())).await.unwrap();
    assert_eq!(record.row_counts, committed.row_counts);
    assert_eq!(record.row_counts["instances"], 12);
    assert_eq!(record.row_counts["instance_patches"], 36);
    let runs = lake.committed_runs().await.unwrap();
    assert_eq!(runs, vec![committed, record.clone()]);
    let report = lake.verify(&run).await.unwrap();
    assert!(report.is_ok(), "{report}");
    let mut rows = 0;
    for f in record.files.iter().filter(|f| f.table == "instances") {
        rows += t.read(&f.path).await.num_rows();
    }
    assert_eq!(rows, 12);
    t.assert_owner_always_sent();
}

crate::on_both_backends!(readers_see_the_previous_run_until_a_crashed_run_is_finished);
