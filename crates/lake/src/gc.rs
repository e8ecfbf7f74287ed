//! Garbage collection: what falls out of the retention window.
//!
//! Only runs whose id (their start) is older than the cutoff are touched, and of those only
//! lake objects: a committed run's `runs` record and partitions, the partitions of a run that
//! never committed (a crashed finalize), and staged output. Objects the lake did not write
//! (keys that do not parse) are never deleted.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use patchlake_model::records::Timestamp;
use patchlake_model::{RunId, Table};

use crate::{Lake, Result, layout};

/// What [`Lake::gc`] deleted, or with `dry_run` would delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcReport {
    pub dry_run: bool,
    /// Runs started before this are collected.
    pub cutoff: Timestamp,
    /// Committed runs whose record and partitions go.
    pub expired_runs: Vec<RunId>,
    /// Runs without a `runs` record that left partitions behind.
    pub uncommitted_partitions: Vec<RunId>,
    /// Runs whose `_staging/<run_id>/` goes (abandoned, or committed with staging left over).
    pub staging: Vec<RunId>,
    /// Runs within the window whose superseded files go: files an older revision of the
    /// run's record names and the current one does not (left by `lake compact`).
    pub superseded: Vec<RunId>,
    /// Every key deleted, sorted.
    pub keys: Vec<String>,
    pub bytes: u64,
}

/// The run id of a key `<table>/dt=<dt>/run_id=<id>/...`.
fn partition_run(key: &str) -> Option<RunId> {
    key.split('/').nth(2)?.strip_prefix("run_id=")?.parse().ok()
}

impl Lake {
    /// Deletes what is older than `retention` at `now`: committed runs (their `runs` record
    /// first, so a crash midway leaves an invisible run, then their partitions), partitions of
    /// runs that never committed, and staged output. Runs started at or after the cutoff are
    /// never touched, so `retention` must exceed the longest run (a run still staging when it
    /// falls out of the window loses its staged output). With `dry_run`, deletes nothing and
    /// reports what would go.
    pub async fn gc(
        &self,
        retention: TimeDelta,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<GcReport> {
        let cutoff = now - retention;
        let expired = |run: &RunId| run.started_at() < cutoff;

        let mut keys = Vec::new();
        let mut bytes = 0;
        let mut expired_runs = Vec::new();
        let mut runs_prefixes = Vec::new();
        let mut revised = BTreeSet::new();
        let runs_listing = self.storage.list(Table::Runs.name()).await?;
        for meta in &runs_listing {
            let Some((run, revision)) = layout::parse_runs_record_key(&meta.key) else {
                continue;
            };
            if !expired(&run) {
                if revision > 0 {
                    revised.insert(run);
                }
                continue;
            }
            if revision == 0 {
                runs_prefixes.push(layout::run_partition(Table::Runs, &run));
                expired_runs.push(run);
            }
        }
        let committed: BTreeSet<RunId> = expired_runs.iter().cloned().collect();
        for meta in runs_listing {
            if layout::parse_runs_record_key(&meta.key).is_some_and(|(r, _)| committed.contains(&r))
            {
                bytes += meta.size;
                keys.push(meta.key);
            }
        }

        // Runs within the window that `lake compact` revised: the data files older revisions
        // name and the current one does not. The records themselves stay (they are small,
        // and revision 0 is the commit). Files no record names (a compaction in progress, or
        // crashed) are left alone until the run expires.
        let mut superseded = Vec::new();
        let mut superseded_keys = Vec::new();
        for run in revised {
            let revisions = self.record_revisions(&run).await?;
            let Some(((_, current_key), older)) = revisions.split_last() else {
                continue;
            };
            let current = self.read_run_record(current_key, &run).await?;
            let live: BTreeSet<&str> = current.files.iter().map(|f| f.path.as_str()).collect();
            let mut dead = BTreeSet::new();
            for (_, key) in older {
                let record = self.read_run_record(key, &run).await?;
                dead.extend(
                    record
                        .files
                        .into_iter()
                        .map(|f| f.path)
                        .filter(|p| !live.contains(p.as_str())),
                );
            }
            for key in dead {
                if let Some(meta) = self.storage.head(&key).await? {
                    bytes += meta.size;
                    superseded_keys.push(key);
                }
            }
            superseded.push(run);
        }

        let mut uncommitted = BTreeSet::new();
        let mut partitions = BTreeSet::new();
        for table in Table::DATA {
            for meta in self.storage.list(table.name()).await? {
                let Some(run) = partition_run(&meta.key).filter(|r| expired(r)) else {
                    continue;
                };
                if !committed.contains(&run) {
                    // Either never committed, or committed after the runs listing above: only
                    // the former is garbage.
                    if self.storage.head(&layout::runs_key(&run)).await?.is_some() {
                        continue;
                    }
                    uncommitted.insert(run.clone());
                }
                partitions.insert(layout::run_partition(table, &run));
                bytes += meta.size;
                keys.push(meta.key);
            }
        }

        let mut staging = BTreeSet::new();
        let mut staging_prefixes = Vec::new();
        for meta in self.storage.list(layout::STAGING).await? {
            let Some(run) = meta
                .key
                .split('/')
                .nth(1)
                .and_then(|s| s.parse::<RunId>().ok())
                .filter(|r| expired(r))
            else {
                continue;
            };
            if staging.insert(run.clone()) {
                staging_prefixes.push(layout::staging_prefix(&run));
            }
            bytes += meta.size;
            keys.push(meta.key);
        }

        keys.extend(superseded_keys.iter().cloned());
        if !dry_run {
            for key in &superseded_keys {
                self.storage.delete(key).await?;
            }
            for prefix in runs_prefixes
                .iter()
                .chain(&partitions)
                .chain(&staging_prefixes)
            {
                self.storage.delete_prefix(prefix).await?;
            }
        }
        keys.sort();
        let report = GcReport {
            dry_run,
            cutoff,
            expired_runs,
            uncommitted_partitions: uncommitted.into_iter().collect(),
            staging: staging.into_iter().collect(),
            superseded,
            keys,
            bytes,
        };
        tracing::info!(
            dry_run,
            cutoff = %cutoff,
            expired_runs = report.expired_runs.len(),
            uncommitted = report.uncommitted_partitions.len(),
            staging = report.staging.len(),
            objects = report.keys.len(),
            bytes,
            "lake gc"
        );
        Ok(report)
    }
}
