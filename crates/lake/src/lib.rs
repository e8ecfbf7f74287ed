//! patchlake's lake writer: the write side of the lake contract (`shared/LAKE.md`).
//!
//! This crate owns the lake's physical layout and its commit protocol. Collector tasks hand
//! their [`TaskOutput`](patchlake_model::TaskOutput) to [`Lake::stage`], which writes one
//! Parquet file per table under `_staging/<run_id>/`; [`Lake::finalize`] compacts a run's
//! staged files into sorted, size-bounded part files under `<table>/dt=../run_id=../`, then
//! writes the run's `runs` record last: that record *is* the commit. It also owns the Parquet
//! writer settings ([`format::writer_properties`]), the object keys ([`layout`]), the storage
//! abstraction ([`Storage`] over a [`LocalDir`] or an [`S3Storage`], picked by
//! [`Lake::open_url`]), integrity checks ([`Lake::verify`]), compaction of committed runs
//! into fewer files ([`Lake::compact`]) and garbage collection ([`Lake::gc`]).
//!
//! It must not decide what a record contains or how a table's columns are typed (that is
//! `patchlake-model`), must not interpret the data (compliance is derived by `queries/`), and
//! must never make an uncommitted run look committed: readers rely on "a run exists exactly
//! when its `runs` record does".

pub mod error;
pub mod format;
pub mod layout;
pub mod s3;
pub mod storage;

mod compact;
mod finalize;
mod gc;
mod sort;
mod stage;
mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use patchlake_model::{RunId, RunRecord, Table};

pub use compact::{CompactReport, CompactedRun};
pub use error::{Error, Result};
pub use finalize::RunMeta;
pub use gc::GcReport;
pub use s3::{S3Options, S3Storage};
pub use stage::{StagedFile, StagedTask};
pub use storage::{LocalDir, LocalFile, ObjectMeta, Storage};
pub use verify::{FileProblem, Problem, VerifyReport};

/// Tuning of the files [`Lake::finalize`] writes.
#[derive(Clone, Debug)]
pub struct LakeOptions {
    /// A committed part file is closed once it reaches about this size; a table larger than
    /// this is split into several parts.
    pub target_file_bytes: u64,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
}

impl Default for LakeOptions {
    fn default() -> Self {
        LakeOptions {
            target_file_bytes: 256 * 1024 * 1024,
            row_group_rows: format::ROW_GROUP_ROWS,
        }
    }
}

/// A run with task output under `_staging/`: in flight, abandoned, or committed with its
/// staging not yet cleaned up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedRun {
    pub run_id: RunId,
    /// Tasks completely staged (their coverage file exists).
    pub tasks: usize,
    pub files: usize,
    pub bytes: u64,
    /// Whether the run's `runs` record exists (its staging is garbage).
    pub committed: bool,
}

/// A lake: a storage root holding committed runs and staged task output.
#[derive(Clone, Debug)]
pub struct Lake {
    storage: Arc<dyn Storage>,
    options: LakeOptions,
}

impl Lake {
    /// Opens the local lake at `root`, creating the directory if needed (writers).
    pub fn open(root: impl AsRef<Path>) -> Result<Lake> {
        Ok(Lake::with_storage(Arc::new(LocalDir::create(root)?)))
    }

    /// Opens the existing local lake at `root` ([`Error::NotFound`] if absent; readers).
    pub fn open_existing(root: impl AsRef<Path>) -> Result<Lake> {
        Ok(Lake::with_storage(Arc::new(LocalDir::open(root)?)))
    }

    /// Opens the lake at `root`: a local directory (a plain path or `file://path`, created if
    /// needed) or `s3://bucket/prefix` through `s3`, whose bucket is checked to exist and, with
    /// [`S3Options::expected_bucket_owner`], to belong to that account. Any other scheme is
    /// [`Error::InvalidUrl`].
    pub async fn open_url(
        root: &str,
        s3: Option<aws_sdk_s3::Client>,
        s3_options: S3Options,
    ) -> Result<Lake> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: root.to_owned(),
            reason: reason.to_owned(),
        };
        match root.split_once("://") {
            None => Lake::open(root),
            Some(("file", path)) if !path.is_empty() => Lake::open(path),
            Some(("s3", _)) => {
                let client = s3.ok_or_else(|| invalid("an s3:// lake root needs an S3 client"))?;
                let storage = S3Storage::new(client, root, s3_options)?;
                storage.check().await?;
                Ok(Lake::with_storage(Arc::new(storage)))
            }
            Some((scheme, _)) => Err(invalid(&format!(
                "unsupported scheme {scheme:?}: use a local directory or s3://bucket/prefix"
            ))),
        }
    }

    /// Opens the lake a `[lake]` configuration names: [`Lake::open_url`] of `lake.root` with
    /// the S3 options and file sizes its keys set. `s3` is the client and the credentials it
    /// signs with (the readers' object store signs with the same ones); it is needed only
    /// for an `s3://` root. The one place that maps `lake.*` keys onto the writer, shared by
    /// the CLI and the Lambda functions.
    pub async fn open_configured(
        config: &patchlake_config::LakeConfig,
        s3: Option<(
            aws_sdk_s3::Client,
            Option<aws_sdk_s3::config::SharedCredentialsProvider>,
        )>,
    ) -> Result<Lake> {
        const MIB: u64 = 1024 * 1024;
        let part_size = config.part_size_mib.saturating_mul(MIB);
        let (client, credentials) = s3.unzip();
        let s3_options = S3Options {
            expected_bucket_owner: config.expected_bucket_owner.clone(),
            sse_kms_key_id: config.kms_key_id.clone(),
            multipart_threshold: part_size,
            part_size,
            endpoint_url: config.endpoint_url.clone(),
            force_path_style: config.force_path_style,
            credentials: credentials.flatten(),
            ..S3Options::default()
        };
        let lake = Lake::open_url(&config.root, client, s3_options).await?;
        Ok(lake.with_options(LakeOptions {
            target_file_bytes: config.target_file_size_mib.saturating_mul(MIB),
            ..LakeOptions::default()
        }))
    }

    /// A lake over any storage backend.
    pub fn with_storage(storage: Arc<dyn Storage>) -> Lake {
        Lake {
            storage,
            options: LakeOptions::default(),
        }
    }

    pub fn with_options(mut self, options: LakeOptions) -> Lake {
        self.options = options;
        self
    }

    pub fn options(&self) -> &LakeOptions {
        &self.options
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The lake's root directory, when it is local.
    pub fn local_root(&self) -> Option<PathBuf> {
        self.storage.local_path("")
    }

    /// Every committed run, sorted by run id (oldest first), as its current record.
    pub async fn committed_runs(&self) -> Result<Vec<RunRecord>> {
        let mut runs = Vec::new();
        for (run_id, meta) in self.committed_run_objects().await? {
            runs.push(self.read_run_record(&meta.key, &run_id).await?);
        }
        Ok(runs)
    }

    /// The id of every committed run, oldest first, without reading their records.
    pub async fn committed_run_ids(&self) -> Result<Vec<RunId>> {
        Ok(self.committed_run_objects().await?.into_keys().collect())
    }

    /// The current record object of every committed run (its highest revision, see
    /// [`layout::runs_record_key`]), by run id. A run is committed when revision 0 exists.
    pub async fn committed_run_objects(&self) -> Result<BTreeMap<RunId, ObjectMeta>> {
        let mut by_run: BTreeMap<RunId, (bool, usize, ObjectMeta)> = BTreeMap::new();
        for meta in self.storage.list(Table::Runs.name()).await? {
            let Some((run_id, revision)) = layout::parse_runs_record_key(&meta.key) else {
                tracing::warn!(key = %meta.key, "ignoring unexpected object under runs/");
                continue;
            };
            let entry = by_run
                .entry(run_id)
                .or_insert_with(|| (false, revision, meta.clone()));
            entry.0 |= revision == 0;
            if revision >= entry.1 {
                entry.1 = revision;
                entry.2 = meta;
            }
        }
        Ok(by_run
            .into_iter()
            .filter(|(_, (committed, _, _))| *committed)
            .map(|(run, (_, _, meta))| (run, meta))
            .collect())
    }

    /// Every revision of a run's record, oldest first (empty if the run is not committed).
    pub(crate) async fn record_revisions(&self, run_id: &RunId) -> Result<Vec<(usize, String)>> {
        let mut revisions: Vec<(usize, String)> = self
            .storage
            .list(&layout::run_partition(Table::Runs, run_id))
            .await?
            .into_iter()
            .filter_map(|m| {
                let (id, rev) = layout::parse_runs_record_key(&m.key)?;
                (&id == run_id).then_some((rev, m.key))
            })
            .collect();
        revisions.sort();
        if revisions.first().is_none_or(|(rev, _)| *rev != 0) {
            return Ok(Vec::new());
        }
        Ok(revisions)
    }

    /// The current record of a committed run ([`Error::NotCommitted`] if it has none).
    pub async fn run(&self, run_id: &RunId) -> Result<RunRecord> {
        let revisions = self.record_revisions(run_id).await?;
        if let Some((_, key)) = revisions.last() {
            return self.read_run_record(key, run_id).await;
        }
        let staged = !self
            .storage
            .list(&layout::staging_prefix(run_id))
            .await?
            .is_empty();
        let mut partitions = false;
        for table in Table::DATA {
            if partitions || staged {
                break;
            }
            let prefix = layout::run_partition(table, run_id);
            partitions = !self.storage.list(&prefix).await?.is_empty();
        }
        let detail = if staged {
            "it has staged task output only: still running, or abandoned"
        } else if partitions {
            "it has table files but no runs record: its finalize never completed, or the \
             record was deleted; `patchlake lake gc` removes such leftovers"
        } else {
            "no such run in the lake"
        };
        Err(Error::NotCommitted {
            run_id: run_id.clone(),
            detail: detail.to_owned(),
        })
    }

    /// The most recent committed run, if any.
    pub async fn latest_run(&self) -> Result<Option<RunRecord>> {
        Ok(self.committed_runs().await?.pop())
    }

    /// Runs with output under `_staging/`, sorted by run id.
    pub async fn staged_runs(&self) -> Result<Vec<StagedRun>> {
        let mut by_run: BTreeMap<RunId, StagedRun> = BTreeMap::new();
        for meta in self.storage.list(layout::STAGING).await? {
            let mut segments = meta.key.split('/').skip(1);
            let Some(run_id) = segments.next().and_then(|s| s.parse::<RunId>().ok()) else {
                tracing::warn!(key = %meta.key, "ignoring unexpected object under _staging/");
                continue;
            };
            let run = by_run.entry(run_id.clone()).or_insert_with(|| StagedRun {
                run_id,
                tasks: 0,
                files: 0,
                bytes: 0,
                committed: false,
            });
            run.files += 1;
            run.bytes += meta.size;
            if segments.next() == Some(Table::Coverage.name()) {
                run.tasks += 1;
            }
        }
        let mut runs: Vec<StagedRun> = by_run.into_values().collect();
        for run in &mut runs {
            run.committed = self
                .storage
                .head(&layout::runs_key(&run.run_id))
                .await?
                .is_some();
        }
        Ok(runs)
    }

    /// Deletes a run's staged output (garbage collection of abandoned or committed runs);
    /// returns how many objects were deleted.
    pub async fn discard_staging(&self, run_id: &RunId) -> Result<usize> {
        self.storage
            .delete_prefix(&layout::staging_prefix(run_id))
            .await
    }

    pub(crate) async fn read_run_record(&self, key: &str, run_id: &RunId) -> Result<RunRecord> {
        let shown = self.storage.url(key);
        let file = self.storage.get_file(key).await?;
        let batches = {
            let shown = shown.clone();
            blocking(move || format::read_file(file.path(), &shown, None)).await?
        };
        let mut records = Vec::new();
        for batch in &batches {
            records.extend(
                RunRecord::from_batch(batch, run_id)
                    .map_err(|e| Error::corrupt(&shown, e.to_string()))?,
            );
        }
        match <[RunRecord; 1]>::try_from(records) {
            Ok([record]) => Ok(record),
            Err(records) => Err(Error::corrupt(
                shown,
                format!(
                    "a runs record holds exactly one row, found {}",
                    records.len()
                ),
            )),
        }
    }
}

/// Runs blocking work (file I/O, Parquet encoding and decoding, sorting) off the async
/// runtime's worker threads. A panic in `f` is a bug and propagates.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Io {
            path: "(blocking task)".to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::Interrupted, e.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collectors stage from `tokio::spawn`ed tasks: every future must be `Send`.
    #[test]
    fn lake_futures_are_send() {
        fn send<T: Send>(_: &T) {}
        fn check(lake: &Lake, run: &RunId, task: &patchlake_model::TaskOutput, meta: &RunMeta) {
            send(&lake.stage(run, task));
            send(&lake.finalize(meta));
            send(&lake.committed_runs());
            send(&lake.run(run));
            send(&lake.staged_runs());
            send(&lake.verify(run));
        }
        let _ = check;
    }
}
