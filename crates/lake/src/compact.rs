//! `lake compact`: a day's committed runs rewritten into fewer, larger files, without touching
//! what any reader sees.
//!
//! What "merging a day's runs" can mean is fixed by the lake contract: `run_id` is a partition
//! column taken from the path, so rows of two runs can never share a file, and a run is a
//! snapshot that `AS OF` and the `history_*` tables address on its own. Folding several runs
//! into one would either double count (a union of snapshots) or rewrite history (keeping only
//! the last). Compaction therefore keeps every run and every row, and merges each table's
//! files *within* each run of the day: runs finalized with a small target size, or left with
//! many small parts, end up with as few files as `target_file_bytes` allows.
//!
//! The rewrite is a new commit. New parts are written under fresh part numbers (never over an
//! existing object), then a new revision of the run's record (`runs/.../part-<rev+1>.parquet`,
//! a create-only put) names them; readers take the highest revision, so they see either the
//! old files or the new ones, never both. Nothing is overwritten or deleted: the superseded
//! record and files stay until `gc`, which makes compaction safe on Object Lock buckets and
//! for queries that opened the previous revision. A crash before the new record leaves only
//! unreferenced parts, which the next compaction skips past and `gc` removes.

use chrono::NaiveDate;
use patchlake_model::{RunFile, RunId, RunRecord, Table};

use crate::format::PartWriter;
use crate::{Error, Lake, Result, blocking, format, layout};

/// What [`Lake::compact`] did, or with `dry_run` would do, to one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactedRun {
    pub run_id: RunId,
    /// The record revision written (or that would be written).
    pub revision: usize,
    /// Tables rewritten.
    pub tables: Vec<String>,
    pub files_before: usize,
    pub files_after: usize,
}

/// What [`Lake::compact`] did for a day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactReport {
    pub date: NaiveDate,
    pub dry_run: bool,
    /// Committed runs of the day.
    pub runs: usize,
    /// Runs rewritten (or to rewrite): those with a table in more files than it needs.
    pub compacted: Vec<CompactedRun>,
}

/// How many files `bytes` of a table need at `target` bytes per file.
fn files_needed(bytes: u64, target: u64) -> usize {
    if bytes == 0 {
        return 0;
    }
    bytes.div_ceil(target.max(1)) as usize
}

impl Lake {
    /// Rewrites every committed run of `date` whose tables are spread over more files than
    /// [`LakeOptions::target_file_bytes`](crate::LakeOptions) needs into fewer files, as a new
    /// revision of the run's record (see the module documentation). With `dry_run`, writes
    /// nothing and reports what it would rewrite.
    pub async fn compact(&self, date: NaiveDate, dry_run: bool) -> Result<CompactReport> {
        let mut report = CompactReport {
            date,
            dry_run,
            runs: 0,
            compacted: Vec::new(),
        };
        let target = self.options.target_file_bytes;
        for (run_id, _) in self.committed_run_objects().await? {
            if run_id.date() != date {
                continue;
            }
            report.runs += 1;
            let revisions = self.record_revisions(&run_id).await?;
            let Some((current, key)) = revisions.last().cloned() else {
                continue;
            };
            let record = self.read_run_record(&key, &run_id).await?;
            let tables: Vec<Table> = Table::DATA
                .into_iter()
                .filter(|t| {
                    let files: Vec<&RunFile> = record
                        .files
                        .iter()
                        .filter(|f| f.table == t.name())
                        .collect();
                    let bytes = files.iter().map(|f| f.bytes.max(0) as u64).sum();
                    files.len() > files_needed(bytes, target).max(1)
                })
                .collect();
            if tables.is_empty() {
                continue;
            }
            let files_before = record.files.len();
            let mut compacted = CompactedRun {
                run_id: run_id.clone(),
                revision: current + 1,
                tables: tables.iter().map(|t| t.name().to_owned()).collect(),
                files_before,
                files_after: 0,
            };
            if dry_run {
                compacted.files_after = record
                    .files
                    .iter()
                    .filter(|f| !compacted.tables.contains(&f.table))
                    .count()
                    + tables
                        .iter()
                        .map(|t| {
                            let bytes = record
                                .files
                                .iter()
                                .filter(|f| f.table == t.name())
                                .map(|f| f.bytes.max(0) as u64)
                                .sum();
                            files_needed(bytes, target).max(1)
                        })
                        .sum::<usize>();
            } else {
                let new = self.rewrite(&record, &tables, current + 1).await?;
                compacted.files_after = new.files.len();
            }
            report.compacted.push(compacted);
        }
        tracing::info!(date = %date, dry_run, runs = report.runs, compacted = report.compacted.len(), "lake compact");
        Ok(report)
    }

    /// Writes `tables` of `record` into new parts and commits them as record `revision`.
    async fn rewrite(
        &self,
        record: &RunRecord,
        tables: &[Table],
        revision: usize,
    ) -> Result<RunRecord> {
        let run_id = &record.run_id;
        let scratch = tempfile::tempdir().map_err(Error::io("temporary directory"))?;
        let mut files: Vec<RunFile> = record
            .files
            .iter()
            .filter(|f| !tables.iter().any(|t| t.name() == f.table))
            .cloned()
            .collect();
        for &table in tables {
            // Fresh part numbers: past every object in the partition, committed or left by
            // an interrupted compaction, so no put ever replaces an object.
            let partition = layout::run_partition(table, run_id);
            let next = self
                .storage
                .list(&partition)
                .await?
                .iter()
                .filter_map(|m| layout::parse_part_number(m.key.rsplit('/').next()?))
                .max()
                .map_or(0, |n| n + 1);
            let mut inputs: Vec<&RunFile> = record
                .files
                .iter()
                .filter(|f| f.table == table.name())
                .collect();
            // Part files are in sort order by number; keep it.
            inputs.sort_by(|a, b| a.path.cmp(&b.path));
            let mut local = Vec::new();
            for f in inputs {
                let shown = self.storage.url(&f.path);
                local.push((self.storage.get_file(&f.path).await?, shown));
            }
            let dir = scratch.path().join(table.name());
            let (target, row_group_rows) =
                (self.options.target_file_bytes, self.options.row_group_rows);
            let parts = blocking(move || {
                std::fs::create_dir_all(&dir).map_err(Error::io(dir.display().to_string()))?;
                let schema = table.schema();
                let mut writer = PartWriter::new(table, &dir, target, row_group_rows);
                for (file, shown) in local {
                    for batch in format::read_batches(file.path(), &shown, Some(&schema))? {
                        writer.write(&batch?)?;
                    }
                }
                writer.finish()
            })
            .await?;
            for (n, part) in parts.into_iter().enumerate() {
                let key = layout::part_key(table, run_id, next + n);
                self.storage.put_file(&key, &part.local).await?;
                files.push(RunFile {
                    table: table.name().to_owned(),
                    path: key,
                    rows: part.rows,
                    bytes: part.bytes,
                    sha256: part.sha256,
                });
            }
        }
        // The record keeps the finalize order: tables in lake order, parts in number order.
        let order = |f: &RunFile| {
            Table::DATA
                .iter()
                .position(|t| t.name() == f.table)
                .unwrap_or(usize::MAX)
        };
        files.sort_by(|a, b| (order(a), &a.path).cmp(&(order(b), &b.path)));
        let new = RunRecord {
            files,
            ..record.clone()
        };
        for table in tables {
            let before: i64 = record
                .files
                .iter()
                .filter(|f| f.table == table.name())
                .map(|f| f.rows)
                .sum();
            let after: i64 = new
                .files
                .iter()
                .filter(|f| f.table == table.name())
                .map(|f| f.rows)
                .sum();
            if before != after {
                return Err(Error::corrupt(
                    self.storage.url(&layout::run_partition(*table, run_id)),
                    format!("compaction read {after} rows where the runs record lists {before}"),
                ));
            }
        }

        let key = layout::runs_record_key(run_id, revision);
        let shown = self.storage.url(&key);
        let batch = new.to_batch().map_err(|source| Error::Model {
            context: shown.clone(),
            source,
        })?;
        let props =
            format::writer_properties(Some(Table::Runs), false, self.options.row_group_rows);
        let data = format::encode(&batch, props, &shown)?;
        self.storage.put_new(&key, data).await?;
        tracing::info!(run_id = %run_id, revision, files = new.files.len(), "compacted run");
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::files_needed;

    #[test]
    fn files_needed_rounds_up() {
        assert_eq!(files_needed(0, 10), 0);
        assert_eq!(files_needed(1, 10), 1);
        assert_eq!(files_needed(10, 10), 1);
        assert_eq!(files_needed(11, 10), 2);
    }
}
