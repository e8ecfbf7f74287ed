//! Staging one collector task's output: one Parquet file per non-empty table under
//! `_staging/<run_id>/<table>/<account_id>-<region>.parquet`.
//!
//! The coverage file is written last and removed first: it marks the task as completely
//! staged, so a crash halfway through a (re)stage leaves the task unstaged rather than mixed,
//! and `finalize` ignores data files of tasks without one.

use arrow::array::{Array, AsArray, RecordBatch};
use patchlake_model::{
    CoverageStatus, RunId, Table, TaskOutput, validate_account_id, validate_region,
};

use crate::{Error, Lake, Result, blocking, format, layout};

/// Rows per row group of staged files. Finalize rewrites them (merged and sorted, with the
/// committed files' row groups), so a staging row group only bounds how many rows the Parquet
/// writer buffers while a task is staged.
const STAGING_ROW_GROUP_ROWS: usize = 64 * 1024;

/// A staged table's encoded file: in memory, or in a temporary file (with its size).
enum Encoded {
    Bytes(Vec<u8>),
    File(tempfile::TempPath, u64),
}

impl Encoded {
    fn len(&self) -> usize {
        match self {
            Encoded::Bytes(b) => b.len(),
            Encoded::File(_, bytes) => *bytes as usize,
        }
    }
}

/// One file written by [`Lake::stage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedFile {
    pub table: Table,
    pub key: String,
    pub rows: usize,
    pub bytes: usize,
}

/// What [`Lake::stage`] wrote for a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedTask {
    pub run_id: RunId,
    pub task_key: String,
    pub status: CoverageStatus,
    /// The files written, coverage last; tables without rows have none.
    pub files: Vec<StagedFile>,
}

impl StagedTask {
    /// Rows staged in `table`.
    pub fn rows(&self, table: Table) -> usize {
        self.files
            .iter()
            .filter(|f| f.table == table)
            .map(|f| f.rows)
            .sum()
    }
}

/// Checks that every row of `batch` belongs to the task's account and region.
fn check_rows(
    task_key: &str,
    account: &str,
    region: &str,
    table: Table,
    batch: &RecordBatch,
) -> Result<()> {
    for (column, expected) in [("account_id", account), ("region", region)] {
        let values = batch
            .column_by_name(column)
            .and_then(|c| c.as_string_opt::<i32>())
            .expect("every data table has utf8 account_id and region");
        if let Some((row, found)) = values
            .iter()
            .enumerate()
            .find(|(_, v)| *v != Some(expected))
        {
            return Err(Error::InvalidTask {
                task_key: task_key.to_owned(),
                detail: format!(
                    "{table} row {row} has {column} {found:?}, but the task collects {account}/{region}"
                ),
            });
        }
        debug_assert_eq!(values.null_count(), 0);
    }
    Ok(())
}

impl Lake {
    /// Stages a task's output for `run_id`. Staging the same task (account-region) again
    /// replaces its files, so a retried task never duplicates rows.
    pub async fn stage(&self, run_id: &RunId, task: &TaskOutput) -> Result<StagedTask> {
        let task_key = task.task_key();
        let coverage = &task.coverage;
        for check in [
            validate_account_id(&coverage.account_id),
            validate_region(&coverage.region),
        ] {
            check.map_err(|e| Error::InvalidTask {
                task_key: task_key.clone(),
                detail: e.to_string(),
            })?;
        }
        let model_err = |source| Error::Model {
            context: format!("task {task_key}"),
            source,
        };
        let batches = task.small_batches().map_err(model_err)?;
        for (table, batch) in &batches {
            check_rows(
                &task_key,
                &coverage.account_id,
                &coverage.region,
                *table,
                batch,
            )?;
        }
        // instance_patches and inventory_applications, which grow with the fleet, are
        // streamed: spilled chunks are decoded and re-encoded one at a time, never held whole
        // as Arrow arrays.
        let patches = task.instance_patch_batches().map_err(model_err)?;
        let applications = task.inventory_application_batches().map_err(model_err)?;
        let streamed: Vec<(Table, Box<dyn Iterator<Item = _> + Send>)> = vec![
            (Table::InstancePatches, Box::new(patches)),
            (Table::InventoryApplications, Box::new(applications)),
        ];

        let keys: Vec<(Table, String)> = batches
            .iter()
            .map(|(t, _)| *t)
            .chain(streamed.iter().map(|(t, _)| *t))
            .map(|t| (t, layout::staged_key(run_id, t, &task_key)))
            .collect();
        let shown: Vec<String> = keys.iter().map(|(_, k)| self.storage.url(k)).collect();
        let row_group_rows = self.options.row_group_rows.min(STAGING_ROW_GROUP_ROWS);
        let (task_key_c, account, region) = (
            task_key.clone(),
            coverage.account_id.clone(),
            coverage.region.clone(),
        );
        let encoded = blocking(move || {
            let mut shown = shown.into_iter();
            let mut encoded = batches
                .into_iter()
                .zip(shown.by_ref())
                .map(|((table, batch), shown)| {
                    let rows = batch.num_rows();
                    if rows == 0 {
                        return Ok((rows, None));
                    }
                    let props = format::writer_properties(Some(table), false, row_group_rows);
                    Ok((
                        rows,
                        Some(Encoded::Bytes(format::encode(&batch, props, &shown)?)),
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            // Written to temporary files: the encoded files are tens of MiB for a large
            // account-region, too much to hold in a Lambda function's memory.
            for ((table, batches), shown) in streamed.into_iter().zip(shown) {
                let props = format::writer_properties(Some(table), false, row_group_rows);
                let batches = batches.map(|b| {
                    b.map_err(|source| Error::Model {
                        context: format!("task {task_key_c}"),
                        source,
                    })
                });
                let (rows, file) = format::encode_stream_to_file(batches, props, &shown, |b| {
                    check_rows(&task_key_c, &account, &region, table, b)
                })?;
                encoded.push((rows, file.map(|(path, bytes)| Encoded::File(path, bytes))));
            }
            Ok(encoded)
        })
        .await?;
        // Table::DATA order, coverage last.
        let mut outputs: Vec<_> = keys.into_iter().zip(encoded).collect();
        outputs.sort_by_key(|((t, _), _)| Table::DATA.iter().position(|x| x == t));

        let coverage_key = layout::staged_key(run_id, Table::Coverage, &task_key);
        self.storage.delete(&coverage_key).await?;
        let mut files = Vec::new();
        let mut coverage_file = None;
        for ((table, key), (rows, data)) in outputs {
            let Some(data) = data else {
                self.storage.delete(&key).await?;
                continue;
            };
            if table == Table::Coverage {
                coverage_file = Some((key, rows, data));
                continue;
            }
            let bytes = data.len();
            match data {
                Encoded::Bytes(data) => self.storage.put(&key, data).await?,
                Encoded::File(path, _) => self.storage.put_file(&key, &path).await?,
            }
            files.push(StagedFile {
                table,
                key,
                rows,
                bytes,
            });
        }
        let (key, rows, data) = coverage_file.expect("a task has exactly one coverage row");
        let (bytes, Encoded::Bytes(data)) = (data.len(), data) else {
            unreachable!("coverage is encoded in memory");
        };
        self.storage.put(&key, data).await?;
        files.push(StagedFile {
            table: Table::Coverage,
            key,
            rows,
            bytes,
        });
        tracing::debug!(run_id = %run_id, task = %task_key, files = files.len(), "staged task");
        Ok(StagedTask {
            run_id: run_id.clone(),
            task_key,
            status: coverage.status,
            files,
        })
    }
}
