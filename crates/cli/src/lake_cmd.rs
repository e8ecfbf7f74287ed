//! `patchlake lake ...`: list, verify, compact and garbage-collect the lake.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, TimeDelta, Utc};
use clap::Subcommand;
use patchlake::pipeline::{explain, open_lake};
use patchlake_config::Config;

/// Exit code of `lake verify` when a file does not match the run record.
pub const EXIT_VERIFY_FAILED: u8 = 4;

#[derive(Subcommand)]
pub enum LakeCommand {
    /// List committed and staged runs.
    Ls,
    /// Recompute every file's SHA-256 and row count against the run record.
    Verify {
        /// Run id (default: every committed run).
        run_id: Option<String>,
    },
    /// Delete runs older than the retention window, abandoned staging, and files superseded
    /// by `lake compact`. Prints what it would delete unless --apply is given.
    Gc {
        /// Runs that started more than this many days ago are deleted.
        #[arg(long, default_value_t = 90)]
        retention_days: u32,
        /// Delete (default: dry run).
        #[arg(long)]
        apply: bool,
    },
    /// Rewrite the committed runs of a day whose tables are spread over more files than
    /// lake.target_file_size_mib needs into fewer files. Every run and row stays; the new
    /// files are committed as a new revision of each run's record; the old ones go with
    /// `lake gc`. Prints what it would rewrite unless --apply is given.
    Compact {
        /// The day (the runs' `dt`), YYYY-MM-DD.
        #[arg(long)]
        date: NaiveDate,
        /// Rewrite (default: dry run).
        #[arg(long)]
        apply: bool,
    },
}

pub async fn run(cmd: LakeCommand, config: &Config) -> Result<ExitCode> {
    let lake = open_lake(config).await?;
    let root = &config.lake.root;
    match cmd {
        LakeCommand::Ls => {
            let runs = lake
                .committed_runs()
                .await
                .map_err(|e| explain(e, config))?;
            if runs.is_empty() {
                println!("no committed run in {root}");
            }
            for r in &runs {
                let bytes: i64 = r.files.iter().map(|f| f.bytes).sum();
                println!(
                    "{}  committed  {} ok / {} partial / {} failed  {} files  {} bytes",
                    r.run_id,
                    r.tasks_ok,
                    r.tasks_partial,
                    r.tasks_failed,
                    r.files.len(),
                    bytes
                );
            }
            for s in lake.staged_runs().await? {
                println!(
                    "{}  {}  {} tasks staged  {} files  {} bytes",
                    s.run_id,
                    if s.committed {
                        "committed, staging left over"
                    } else {
                        "uncommitted"
                    },
                    s.tasks,
                    s.files,
                    s.bytes
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        LakeCommand::Verify { run_id } => {
            let ids = match run_id {
                Some(id) => vec![id.parse()?],
                None => lake.committed_run_ids().await?,
            };
            if ids.is_empty() {
                bail!("no committed run in {root} to verify");
            }
            let mut ok = true;
            for id in ids {
                let report = lake.verify(&id).await?;
                if report.is_ok() {
                    println!("{id}: ok ({} files)", report.files_checked);
                } else {
                    ok = false;
                    for p in &report.problems {
                        println!("{id}: {p}");
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_VERIFY_FAILED)
            })
        }
        LakeCommand::Gc {
            retention_days,
            apply,
        } => {
            let retention = TimeDelta::days(i64::from(retention_days));
            let report = lake
                .gc(retention, Utc::now(), !apply)
                .await
                .map_err(|e| explain(e, config))
                .with_context(|| format!("lake gc in {root}"))?;
            let verb = if apply { "deleted" } else { "would delete" };
            for key in &report.keys {
                println!("{verb} {}", lake.storage().url(key));
            }
            println!(
                "{verb} {} objects, {} bytes: {} expired runs (started before {}), {} uncommitted partitions, {} staging prefixes, {} compacted runs' superseded files{}",
                report.keys.len(),
                report.bytes,
                report.expired_runs.len(),
                report.cutoff.format("%Y-%m-%dT%H:%M:%SZ"),
                report.uncommitted_partitions.len(),
                report.staging.len(),
                report.superseded.len(),
                if apply {
                    ""
                } else {
                    " (dry run: pass --apply to delete)"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        LakeCommand::Compact { date, apply } => {
            let report = lake
                .compact(date, !apply)
                .await
                .map_err(|e| explain(e, config))
                .with_context(|| format!("lake compact --date {date} in {root}"))?;
            let verb = if apply { "compacted" } else { "would compact" };
            for c in &report.compacted {
                println!(
                    "{verb} {} ({}): {} files -> {} files, record revision {}",
                    c.run_id,
                    c.tables.join(", "),
                    c.files_before,
                    c.files_after,
                    c.revision
                );
            }
            println!(
                "{date}: {} committed runs, {} {verb}{}",
                report.runs,
                report.compacted.len(),
                if apply || report.compacted.is_empty() {
                    ""
                } else {
                    " (dry run: pass --apply to rewrite)"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
