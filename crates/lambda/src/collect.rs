//! `collect`: one account-region into the run's staging area.

use std::collections::BTreeMap;
use std::sync::Arc;

use patchlake_collect::{Collector, Target};
use patchlake_model::{RunId, Table, validate_account_id, validate_region};

use crate::Deps;
use crate::error::{HandlerError, Result};
use crate::events::{CollectInput, CollectOutput};
use patchlake::pipeline::LakePrior;

/// Collects one task and stages it. A retry replaces the task's staged rows (`Lake::stage`),
/// so the invocation is idempotent. Collection failures are data (the coverage row); only
/// staging failures fail the invocation.
pub async fn collect(deps: &Deps, input: CollectInput) -> Result<CollectOutput> {
    let run_id: RunId = input.run_id.parse().map_err(|e| {
        HandlerError::bad_input(format!(
            "collect event: field `run_id` = {:?}: {e}",
            input.run_id
        ))
    })?;
    validate_account_id(&input.account_id)
        .map_err(|e| HandlerError::bad_input(format!("collect event: field `account_id`: {e}")))?;
    validate_region(&input.region)
        .map_err(|e| HandlerError::bad_input(format!("collect event: field `region`: {e}")))?;
    let target = Target::new(&input.account_id, &input.region);

    let collector = match LakePrior::open(&deps.lake, &deps.config).await {
        Some(prior) => {
            Collector::with_prior(deps.factory.clone(), deps.config.clone(), Arc::new(prior))
        }
        None => Collector::new(deps.factory.clone(), deps.config.clone()),
    };
    // Boxed: the collector's future nests deep enough to overflow rustc's layout recursion
    // limit inside this one.
    let task = Box::pin(collector.collect(&target)).await;
    let staged = deps.lake.stage(&run_id, &task).await.map_err(|e| {
        HandlerError::lake(
            &format!(
                "staging account {} region {} of run {run_id}",
                input.account_id, input.region
            ),
            &e,
        )
    })?;
    let c = &task.coverage;
    tracing::info!(run_id = %run_id, account_id = %c.account_id, region = %c.region,
        status = c.status.as_str(), instances = c.instances, api_calls = c.api_calls,
        throttled_calls = c.throttled_calls, "task staged");
    let rows: BTreeMap<String, i64> = Table::ALL
        .iter()
        .filter(|t| **t != Table::Runs)
        .map(|t| (t.name().to_owned(), staged.rows(*t) as i64))
        .collect();
    Ok(CollectOutput {
        run_id: run_id.to_string(),
        account_id: c.account_id.clone(),
        region: c.region.clone(),
        status: c.status.as_str().to_owned(),
        error_code: c.error_code.clone(),
        error_message: c.error_message.clone(),
        instances: c.instances,
        api_calls: c.api_calls,
        throttled_calls: c.throttled_calls,
        retries: c.retries,
        rows,
    })
}
