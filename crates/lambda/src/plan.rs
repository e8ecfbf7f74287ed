//! `plan`: discover the accounts and regions, create the run id, store the task list.

use patchlake_collect::targets;
use patchlake_model::RunId;

use crate::Deps;
use crate::error::{HandlerError, Result};
use crate::events::{CollectInput, ObjectLocation, PlanInput, PlanOutput, RunInfo, SkippedAccount};

/// Key of a run's task list, relative to the lake root. Outside `_staging/` so finalize never
/// mistakes it for task output; the bucket's lifecycle rule expires `_plans/`.
pub fn tasks_key(run_id: &RunId) -> String {
    format!("_plans/{run_id}/tasks.json")
}

/// Plans a run: the task list is written to the lake, its location returned with the run.
pub async fn plan(deps: &Deps, input: PlanInput) -> Result<PlanOutput> {
    let run_id = match &input.run_id {
        None => RunId::generate(),
        Some(id) => id.parse::<RunId>().map_err(|e| {
            HandlerError::bad_input(format!("plan event: field `run_id` = {id:?}: {e}"))
        })?,
    };
    let plan = patchlake_discover::discover(&deps.factory, &deps.config)
        .await
        .map_err(|e| discover_error(&e))?;
    let account_ids: Vec<String> = plan.accounts.iter().map(|a| a.id.clone()).collect();
    let tasks: Vec<CollectInput> = targets(&account_ids, &plan.regions)
        .into_iter()
        .map(|t| CollectInput {
            run_id: run_id.to_string(),
            account_id: t.account_id,
            region: t.region,
        })
        .collect();
    let key = tasks_key(&run_id);
    let body = serde_json::to_vec(&tasks).map_err(|e| {
        HandlerError::new(crate::ErrorKind::Internal, format!("encoding {key}: {e}"))
    })?;
    deps.lake
        .storage()
        .put(&key, body)
        .await
        .map_err(|e| HandlerError::lake(&format!("writing the task list of run {run_id}"), &e))?;
    tracing::info!(run_id = %run_id, accounts = account_ids.len(), regions = plan.regions.len(),
        tasks = tasks.len(), skipped = plan.skipped.len(), "run planned");
    Ok(PlanOutput {
        run: RunInfo {
            run_id: run_id.to_string(),
            started_at: run_id.started_at().to_rfc3339(),
            config_sha256: deps.config.sha256(),
            accounts: account_ids.len() as i32,
            regions: plan.regions.len() as i32,
            tasks: tasks.len() as i64,
        },
        tasks_object: object_location(deps, &key),
        max_concurrency: deps.config.collect.concurrency as u64,
        skipped_accounts: plan
            .skipped
            .into_iter()
            .map(|(account_id, reason)| SkippedAccount { account_id, reason })
            .collect(),
    })
}

/// The bucket and key of `key` for the Map's ItemReader.
fn object_location(deps: &Deps, key: &str) -> ObjectLocation {
    match deps.lake.local_root() {
        Some(root) => ObjectLocation {
            bucket: root.display().to_string(),
            key: key.to_owned(),
        },
        None => {
            let url = deps.lake.storage().url(key);
            let rest = url.strip_prefix("s3://").unwrap_or(&url);
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            ObjectLocation {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            }
        }
    }
}

fn discover_error(e: &patchlake_discover::Error) -> HandlerError {
    use patchlake_discover::Error as E;
    match e {
        E::Organizations(aws) => HandlerError::aws("discovering accounts", aws.kind, e),
        E::OrganizationsRole { source, .. } => {
            HandlerError::aws("discovering accounts", source.kind(), e)
        }
        E::ChainRole { source, .. } => HandlerError::aws("discovering accounts", source.kind(), e),
        _ => HandlerError::bad_input(format!("discovering accounts: {e}")),
    }
}
