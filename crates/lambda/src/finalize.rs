//! `finalize`: commit the run (compact staged output, write the `runs` record last).

use chrono::{DateTime, Utc};
use patchlake_lake::RunMeta;
use patchlake_model::{RunId, RunRecord};

use crate::Deps;
use crate::error::{HandlerError, Result};
use crate::events::{FinalizeInput, FinalizeOutput, RunInfo};

/// Commits the run. A retry after a successful commit (the response was lost) finds the
/// `runs` record and returns its summary instead of failing.
pub async fn finalize(deps: &Deps, input: FinalizeInput) -> Result<FinalizeOutput> {
    let run = &input.run;
    let run_id: RunId = run.run_id.parse().map_err(|e| {
        HandlerError::bad_input(format!(
            "finalize event: field `run.run_id` = {:?}: {e}",
            run.run_id
        ))
    })?;
    let started_at: DateTime<Utc> = DateTime::parse_from_rfc3339(&run.started_at)
        .map_err(|e| {
            HandlerError::bad_input(format!(
                "finalize event: field `run.started_at` = {:?}: {e}",
                run.started_at
            ))
        })?
        .with_timezone(&Utc);
    let meta = RunMeta {
        run_id: run_id.clone(),
        started_at,
        finished_at: None,
        config_sha256: run.config_sha256.clone(),
        accounts: run.accounts,
        regions: run.regions,
    };
    let context = format!("committing run {run_id}");
    let (record, already) = match deps.lake.finalize(&meta).await {
        Ok(record) => (record, false),
        Err(patchlake_lake::Error::AlreadyCommitted { .. }) => {
            let record = deps
                .lake
                .run(&run_id)
                .await
                .map_err(|e| HandlerError::lake(&context, &e))?;
            (record, true)
        }
        Err(e) => return Err(HandlerError::lake(&context, &e)),
    };
    let out = summary(run, &record, already);
    tracing::info!(run_id = %run_id, partial = out.partial, tasks_ok = out.tasks_ok,
        tasks_partial = out.tasks_partial, tasks_failed = out.tasks_failed,
        tasks_missing = out.tasks_missing, already_committed = already, "run committed");
    Ok(out)
}

fn summary(run: &RunInfo, record: &RunRecord, already_committed: bool) -> FinalizeOutput {
    let staged = i64::from(record.tasks_ok + record.tasks_partial + record.tasks_failed);
    let tasks_missing = (run.tasks - staged).max(0);
    FinalizeOutput {
        run_id: record.run_id.to_string(),
        partial: record.tasks_partial > 0 || record.tasks_failed > 0 || tasks_missing > 0,
        tasks_planned: run.tasks,
        tasks_ok: record.tasks_ok,
        tasks_partial: record.tasks_partial,
        tasks_failed: record.tasks_failed,
        tasks_missing,
        row_counts: record.row_counts.clone(),
        files: record.files.len(),
        bytes: record.files.iter().map(|f| f.bytes).sum(),
        already_committed,
    }
}
