//! The lake's object keys (`shared/LAKE.md`, "Root and layout"): the only place that spells them.

use patchlake_model::{RunId, Table};

/// Top-level prefix of in-flight task output.
pub const STAGING: &str = "_staging";

/// `<table>/dt=<YYYY-MM-DD>/run_id=<run_id>`: the partition directory of a run's committed files.
pub fn run_partition(table: Table, run_id: &RunId) -> String {
    format!("{}/dt={}/run_id={}", table.name(), run_id.dt(), run_id)
}

/// `<table>/dt=../run_id=../part-<nnnnn>.parquet`.
pub fn part_key(table: Table, run_id: &RunId, part: usize) -> String {
    format!("{}/part-{part:05}.parquet", run_partition(table, run_id))
}

/// The key of a run's commit record, `runs/dt=../run_id=../part-00000.parquet`.
pub fn runs_key(run_id: &RunId) -> String {
    part_key(Table::Runs, run_id, 0)
}

/// `_staging/<run_id>`: everything a run has staged.
pub fn staging_prefix(run_id: &RunId) -> String {
    format!("{STAGING}/{run_id}")
}

/// `_staging/<run_id>/<table>`.
pub fn staged_table_prefix(run_id: &RunId, table: Table) -> String {
    format!("{STAGING}/{run_id}/{}", table.name())
}

/// `_staging/<run_id>/<table>/<task_key>.parquet`.
pub fn staged_key(run_id: &RunId, table: Table, task_key: &str) -> String {
    format!("{}/{task_key}.parquet", staged_table_prefix(run_id, table))
}

/// `_staging/<run_id>/_finalize`: finalize's scratch space (local lakes only).
pub fn finalize_scratch(run_id: &RunId) -> String {
    format!("{STAGING}/{run_id}/_finalize")
}

/// The key of revision `revision` of a run's commit record: `runs/dt=../run_id=../part-<rev>.parquet`.
/// Revision 0 is written by `finalize` (the commit); `lake compact` adds later revisions that
/// name the same rows in fewer files. Readers take the highest revision.
pub fn runs_record_key(run_id: &RunId, revision: usize) -> String {
    part_key(Table::Runs, run_id, revision)
}

/// The run id and revision of a `runs` record key of any revision.
pub fn parse_runs_record_key(key: &str) -> Option<(RunId, usize)> {
    let mut parts = key.split('/');
    let (table, dt, run, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || table != Table::Runs.name() {
        return None;
    }
    let revision = parse_part_number(file)?;
    let run_id: RunId = run.strip_prefix("run_id=")?.parse().ok()?;
    (dt.strip_prefix("dt=")? == run_id.dt()).then_some((run_id, revision))
}

/// `n` of a file name `part-<nnnnn>.parquet`.
pub fn parse_part_number(file: &str) -> Option<usize> {
    let digits = file.strip_prefix("part-")?.strip_suffix(".parquet")?;
    (digits.len() >= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The run id of a `runs` record key, if `key` is one (`runs/dt=<dt>/run_id=<id>/part-00000.parquet`
/// with a `dt` that matches the id).
pub fn parse_runs_key(key: &str) -> Option<RunId> {
    let mut parts = key.split('/');
    let (table, dt, run, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || table != Table::Runs.name() || file != "part-00000.parquet" {
        return None;
    }
    let run_id: RunId = run.strip_prefix("run_id=")?.parse().ok()?;
    (dt.strip_prefix("dt=")? == run_id.dt()).then_some(run_id)
}

/// The task key of a staged file key under `prefix` (`<prefix>/<task_key>.parquet`).
pub fn parse_staged_key<'a>(prefix: &str, key: &'a str) -> Option<&'a str> {
    key.strip_prefix(prefix)?
        .strip_prefix('/')?
        .strip_suffix(".parquet")
        .filter(|k| !k.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract() {
        let id: RunId = "20261125T101112Z-deadbeef".parse().unwrap();
        assert_eq!(
            part_key(Table::InstancePatches, &id, 3),
            "instance_patches/dt=2026-11-25/run_id=20261125T101112Z-deadbeef/part-00003.parquet"
        );
        let runs = runs_key(&id);
        assert_eq!(
            runs,
            "runs/dt=2026-11-25/run_id=20261125T101112Z-deadbeef/part-00000.parquet"
        );
        assert_eq!(parse_runs_key(&runs), Some(id.clone()));
        assert_eq!(
            parse_runs_key(
                "runs/dt=2026-11-24/run_id=20261125T101112Z-deadbeef/part-00000.parquet"
            ),
            None,
            "dt must match the run id"
        );
        assert_eq!(
            parse_runs_key("instances/dt=2026-11-25/run_id=x/part-00000.parquet"),
            None
        );
        let rev = runs_record_key(&id, 2);
        assert_eq!(
            rev,
            "runs/dt=2026-11-25/run_id=20261125T101112Z-deadbeef/part-00002.parquet"
        );
        assert_eq!(parse_runs_record_key(&rev), Some((id.clone(), 2)));
        assert_eq!(parse_runs_record_key(&runs), Some((id.clone(), 0)));
        assert_eq!(parse_runs_key(&rev), None, "revision 0 is the commit");
        assert_eq!(
            parse_runs_record_key(
                "runs/dt=2026-11-25/run_id=20261125T101112Z-deadbeef/part-x.parquet"
            ),
            None
        );
        let staged = staged_key(&id, Table::Coverage, "012345678901-us-east-1");
        assert_eq!(
            staged,
            "_staging/20261125T101112Z-deadbeef/coverage/012345678901-us-east-1.parquet"
        );
        assert_eq!(
            parse_staged_key(&staged_table_prefix(&id, Table::Coverage), &staged),
            Some("012345678901-us-east-1")
        );
    }
}
