//! Integrity check of a committed run against its `runs` record.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use patchlake_model::{RunId, Table};

use crate::{Error, Lake, Result, blocking, format, layout};

/// What is wrong with one file of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Listed in the runs record but absent.
    Missing,
    /// Present but not readable as Parquet.
    Unreadable {
        detail: String,
    },
    Bytes {
        expected: i64,
        actual: i64,
    },
    Sha256 {
        expected: String,
        actual: String,
    },
    Rows {
        expected: i64,
        actual: i64,
    },
    /// In the run's partition but not listed in its runs record (readers going by directory,
    /// like Athena, would count it).
    Unlisted,
    /// The record's row count for the table differs from the sum over its files.
    RowCount {
        recorded: i64,
        in_files: i64,
    },
}

/// A problem and the file (or, for [`Problem::RowCount`], the table) it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProblem {
    pub table: String,
    /// Key of the file relative to the lake root (the table name for [`Problem::RowCount`]).
    pub path: String,
    pub problem: Problem,
}

/// Outcome of [`Lake::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub run_id: RunId,
    pub files_checked: usize,
    pub bytes_checked: u64,
    pub problems: Vec<FileProblem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        match &self.problem {
            Problem::Missing => write!(f, "{path}: missing"),
            Problem::Unreadable { detail } => write!(f, "{path}: unreadable: {detail}"),
            Problem::Bytes { expected, actual } => {
                write!(f, "{path}: {actual} bytes, the runs record says {expected}")
            }
            Problem::Sha256 { expected, actual } => {
                write!(
                    f,
                    "{path}: sha256 {actual}, the runs record says {expected}"
                )
            }
            Problem::Rows { expected, actual } => {
                write!(f, "{path}: {actual} rows, the runs record says {expected}")
            }
            Problem::Unlisted => write!(f, "{path}: not listed in the runs record"),
            Problem::RowCount { recorded, in_files } => write!(
                f,
                "table {}: the runs record counts {recorded} rows, its files hold {in_files}",
                self.table
            ),
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {}: {} files, {} bytes checked, ",
            self.run_id, self.files_checked, self.bytes_checked
        )?;
        if self.is_ok() {
            return write!(f, "all match the runs record");
        }
        write!(f, "{} problems", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl Lake {
    /// Recomputes SHA-256, size and row count of every file in a committed run's record and
    /// reports each mismatch, missing file, unreadable file and unlisted file in the run's
    /// partitions. Errors only when the run itself cannot be read (not committed, corrupt record).
    pub async fn verify(&self, run_id: &RunId) -> Result<VerifyReport> {
        let record = self.run(run_id).await?;
        let mut problems = Vec::new();
        let mut bytes_checked = 0;
        let mut in_files: BTreeMap<&str, i64> = BTreeMap::new();
        for file in &record.files {
            let problem = |problem| FileProblem {
                table: file.table.clone(),
                path: file.path.clone(),
                problem,
            };
            let local = match self.storage.get_file(&file.path).await {
                Ok(local) => local,
                Err(Error::NotFound { .. }) => {
                    problems.push(problem(Problem::Missing));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let shown = self.storage.url(&file.path);
            let (hashed, rows) = blocking(move || {
                let hashed = format::hash_file(local.path(), &shown)?;
                Ok((hashed, format::footer_rows(local.path(), &shown)))
            })
            .await?;
            let (sha256, bytes) = hashed;
            bytes_checked += bytes;
            if bytes as i64 != file.bytes {
                problems.push(problem(Problem::Bytes {
                    expected: file.bytes,
                    actual: bytes as i64,
                }));
            }
            if sha256 != file.sha256 {
                problems.push(problem(Problem::Sha256 {
                    expected: file.sha256.clone(),
                    actual: sha256,
                }));
            }
            match rows {
                Ok(rows) => {
                    *in_files.entry(&file.table).or_default() += rows;
                    if rows != file.rows {
                        problems.push(problem(Problem::Rows {
                            expected: file.rows,
                            actual: rows,
                        }));
                    }
                }
                Err(Error::Corrupt { detail, .. }) => {
                    problems.push(problem(Problem::Unreadable { detail }))
                }
                Err(e) => return Err(e),
            }
        }

        let unreadable: BTreeSet<String> = problems
            .iter()
            .filter(|p| matches!(p.problem, Problem::Missing | Problem::Unreadable { .. }))
            .map(|p| p.table.clone())
            .collect();
        for (table, &recorded) in &record.row_counts {
            let counted = in_files.get(table.as_str()).copied().unwrap_or(0);
            if counted != recorded && !unreadable.contains(table) {
                problems.push(FileProblem {
                    table: table.clone(),
                    path: table.clone(),
                    problem: Problem::RowCount {
                        recorded,
                        in_files: counted,
                    },
                });
            }
        }

        let mut listed: BTreeSet<String> = record.files.iter().map(|f| f.path.clone()).collect();
        // Files of revisions `lake compact` superseded are garbage for `gc`, not damage.
        let revisions = self.record_revisions(run_id).await?;
        for (_, key) in revisions.iter().rev().skip(1) {
            let older = self.read_run_record(key, run_id).await?;
            listed.extend(older.files.into_iter().map(|f| f.path));
        }
        for table in Table::DATA {
            for meta in self
                .storage
                .list(&layout::run_partition(table, run_id))
                .await?
            {
                if !listed.contains(meta.key.as_str()) {
                    problems.push(FileProblem {
                        table: table.name().to_owned(),
                        path: meta.key,
                        problem: Problem::Unlisted,
                    });
                }
            }
        }

        Ok(VerifyReport {
            run_id: run_id.clone(),
            files_checked: record.files.len(),
            bytes_checked,
            problems,
        })
    }
}
