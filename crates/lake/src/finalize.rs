//! Committing a run: compact its staged files per table into sorted part files, write the
//! `runs` record last, remove the staging prefix.
//!
//! Each staged file holds exactly one account-region (`stage` enforces it), and every table
//! sorts by `account_id, region` first, so the table's global order is the staged files in
//! (account, region) order, each sorted on its own. Finalize therefore streams one task file at
//! a time, and sorts it in bounded memory (`sort`: sorted runs of one read batch each, spilled
//! and merged), so memory does not grow with the task's table nor with the run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use chrono::{SubsecRound, Utc};
use patchlake_model::records::Timestamp;
use patchlake_model::{RunFile, RunId, RunRecord, TOOL_VERSION, Table};

use crate::format::{PartFile, PartWriter};
use crate::storage::LocalFile;
use crate::{Error, Lake, Result, blocking, format, layout, sort};

/// What the caller knows about a run that the staged data does not say.
#[derive(Clone, Debug, PartialEq)]
pub struct RunMeta {
    pub run_id: RunId,
    pub started_at: Timestamp,
    /// When collection ended; `None` for the time of the commit.
    pub finished_at: Option<Timestamp>,
    /// SHA-256 of the configuration the run used.
    pub config_sha256: String,
    /// Accounts and regions the run was configured to collect.
    pub accounts: i32,
    pub regions: i32,
}

impl RunMeta {
    /// Meta for `run_id`, started at the time its id encodes, with no config hash or counts.
    pub fn new(run_id: RunId) -> Self {
        RunMeta {
            started_at: run_id.started_at(),
            run_id,
            finished_at: None,
            config_sha256: String::new(),
            accounts: 0,
            regions: 0,
        }
    }
}

/// One staged file of a table, ready to merge.
struct Input {
    account: String,
    region: String,
    shown: String,
    file: LocalFile,
}

/// Merges one table's staged files, in (account, region) order, into part files in `dir`.
/// Returns the parts and, for `coverage`, every task's status.
fn merge_table(
    table: Table,
    inputs: Vec<Input>,
    dir: &Path,
    target_bytes: u64,
    row_group_rows: usize,
) -> Result<(Vec<PartFile>, Vec<String>)> {
    let schema = table.schema();
    let mut writer = PartWriter::new(table, dir, target_bytes, row_group_rows);
    let mut statuses = Vec::new();
    for input in inputs {
        let batches = format::read_batches(input.file.path(), &input.shown, Some(&schema))?;
        // Every row is checked as it is read, before it is sorted.
        let checked = batches.map(|batch| {
            let batch = batch?;
            for (column, expected) in [("account_id", &input.account), ("region", &input.region)] {
                let values = batch
                    .column_by_name(column)
                    .expect("schema checked")
                    .as_string::<i32>();
                if let Some(found) = values.iter().find(|v| *v != Some(expected.as_str())) {
                    return Err(Error::corrupt(
                        &input.shown,
                        format!("staged for {column} {expected} but holds a row of {found:?}"),
                    ));
                }
            }
            if table == Table::Coverage {
                let status = batch.column_by_name("status").expect("schema checked");
                statuses.extend(
                    status
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(str::to_owned),
                );
            }
            Ok(batch)
        });
        sort::sort_stream(table, checked, dir, &input.shown, |sorted| {
            writer.write(sorted)
        })?;
    }
    Ok((writer.finish()?, statuses))
}

/// Where finalize writes part files before moving them into place: inside the run's staging
/// prefix for a local lake (same filesystem, so the move is a rename), else a temp directory.
enum Scratch {
    InLake(PathBuf),
    Temp(tempfile::TempDir),
}

impl Scratch {
    fn path(&self) -> &Path {
        match self {
            Scratch::InLake(p) => p,
            Scratch::Temp(t) => t.path(),
        }
    }
}

impl Lake {
    /// Commits a run: merges its staged task output into the run's partition of every data
    /// table, writes the `runs` record last, then deletes `_staging/<run_id>/`. Refuses with
    /// [`Error::AlreadyCommitted`] if the run already has a `runs` record. Safe to retry after
    /// a crash: leftovers of an interrupted attempt are replaced.
    pub async fn finalize(&self, meta: &RunMeta) -> Result<RunRecord> {
        let run_id = &meta.run_id;
        let runs_key = layout::runs_key(run_id);
        let already = || Error::AlreadyCommitted {
            run_id: run_id.clone(),
            path: self.storage.url(&runs_key),
        };
        if self.storage.head(&runs_key).await?.is_some() {
            return Err(already());
        }

        let staging = layout::staging_prefix(run_id);
        let staged = self.storage.list(&staging).await?;
        let coverage_prefix = layout::staged_table_prefix(run_id, Table::Coverage);
        let tasks: BTreeSet<&str> = staged
            .iter()
            .filter_map(|m| layout::parse_staged_key(&coverage_prefix, &m.key))
            .collect();
        if tasks.is_empty() {
            return Err(Error::NothingStaged {
                run_id: run_id.clone(),
                path: self.storage.url(&staging),
            });
        }

        // An interrupted finalize may have left parts; they are not committed, replace them.
        for table in Table::DATA {
            self.storage
                .delete_prefix(&layout::run_partition(table, run_id))
                .await?;
        }
        let scratch_key = layout::finalize_scratch(run_id);
        self.storage.delete_prefix(&scratch_key).await?;
        let scratch = match self.storage.local_path(&scratch_key) {
            Some(path) => {
                std::fs::create_dir_all(&path).map_err(Error::io(path.display().to_string()))?;
                Scratch::InLake(path)
            }
            None => Scratch::Temp(tempfile::tempdir().map_err(Error::io("temporary directory"))?),
        };

        let mut files = Vec::new();
        let mut row_counts = BTreeMap::new();
        let mut statuses = Vec::new();
        for table in Table::DATA {
            let prefix = layout::staged_table_prefix(run_id, table);
            let mut inputs = Vec::new();
            for meta in &staged {
                let Some(task_key) = layout::parse_staged_key(&prefix, &meta.key) else {
                    continue;
                };
                if !tasks.contains(task_key) {
                    tracing::warn!(key = %meta.key, "ignoring staged file of a task that did not finish staging");
                    continue;
                }
                let shown = self.storage.url(&meta.key);
                let Some((account, region)) = task_key.split_once('-') else {
                    return Err(Error::corrupt(
                        shown,
                        "staged file name is not <account_id>-<region>",
                    ));
                };
                inputs.push(Input {
                    account: account.to_owned(),
                    region: region.to_owned(),
                    file: self.storage.get_file(&meta.key).await?,
                    shown,
                });
            }
            inputs.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));

            let dir = scratch.path().to_path_buf();
            let (target, row_group_rows) =
                (self.options.target_file_bytes, self.options.row_group_rows);
            let started = std::time::Instant::now();
            let (parts, table_statuses) =
                blocking(move || merge_table(table, inputs, &dir, target, row_group_rows)).await?;
            statuses.extend(table_statuses);

            let mut rows = 0;
            for (n, part) in parts.into_iter().enumerate() {
                let key = layout::part_key(table, run_id, n);
                self.storage.put_file(&key, &part.local).await?;
                rows += part.rows;
                files.push(RunFile {
                    table: table.name().to_owned(),
                    path: key,
                    rows: part.rows,
                    bytes: part.bytes,
                    sha256: part.sha256,
                });
            }
            tracing::debug!(run_id = %run_id, table = %table, rows, elapsed_ms = started.elapsed().as_millis() as u64, "compacted table");
            row_counts.insert(table.name().to_owned(), rows);
        }

        let count = |s: &str| statuses.iter().filter(|x| *x == s).count() as i32;
        let record = RunRecord {
            run_id: run_id.clone(),
            // The lake stores microseconds; the returned record must equal the stored one.
            started_at: meta.started_at.trunc_subsecs(6),
            finished_at: meta.finished_at.unwrap_or_else(Utc::now).trunc_subsecs(6),
            tool_version: TOOL_VERSION.to_owned(),
            config_sha256: meta.config_sha256.clone(),
            accounts: meta.accounts,
            regions: meta.regions,
            tasks_ok: count("ok"),
            tasks_partial: count("partial"),
            tasks_failed: count("failed"),
            row_counts,
            files,
        };
        let shown = self.storage.url(&runs_key);
        let batch = record.to_batch().map_err(|source| Error::Model {
            context: shown.clone(),
            source,
        })?;
        let props =
            format::writer_properties(Some(Table::Runs), false, self.options.row_group_rows);
        let data = format::encode(&batch, props, &shown)?;
        match self.storage.put_new(&runs_key, data).await {
            Err(Error::AlreadyExists { .. }) => return Err(already()),
            other => other?,
        }
        tracing::info!(run_id = %run_id, tasks = tasks.len(), files = record.files.len(), "committed run");

        drop(scratch);
        if let Err(e) = self.storage.delete_prefix(&staging).await {
            // The run is committed; its staging is now garbage for `discard_staging`.
            tracing::warn!(run_id = %run_id, error = %e, "could not remove the run's staging");
        }
        Ok(record)
    }
}
