//! One collection run, end to end: discover → assume → collect → stage → finalize.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use aws_credential_types::Credentials;
use futures::StreamExt;
use patchlake_assume::ClientFactory;
use patchlake_collect::{Collector, targets};
use patchlake_config::Config;
use patchlake_lake::{Lake, RunMeta};
use patchlake_model::{Coverage, CoverageStatus, RunId, RunRecord};

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run: RunRecord,
    pub coverage: Vec<Coverage>,
    /// Accounts discovery left out, with the reason.
    pub skipped_accounts: Vec<(String, String)>,
}

impl RunSummary {
    /// Whether every account-region was collected completely.
    pub fn is_complete(&self) -> bool {
        self.coverage
            .iter()
            .all(|c| matches!(c.status, CoverageStatus::Ok | CoverageStatus::Skipped))
    }
}

/// Opens the lake named by `lake.root`.
pub fn open_lake(config: &Config) -> Result<Lake> {
    let root = &config.lake.root;
    if root.starts_with("s3://") {
        bail!(
            "lake.root = {root:?}: the S3 lake backend is not available in this version; use a local directory"
        );
    }
    Lake::open(root).with_context(|| format!("opening the lake at lake.root = {root:?}"))
}

/// Runs one collection into the lake and commits it.
///
/// `credentials` replaces the standard credential chain for the starting identity (the
/// simulator and tests use it). Each account-region's output is staged as soon as it is
/// collected, so a failure later in the run loses nothing already staged.
pub async fn collect_run(
    config: Arc<Config>,
    credentials: Option<Credentials>,
) -> Result<RunSummary> {
    let lake = open_lake(&config)?;
    let factory = ClientFactory::new(&config.aws, credentials).await;
    let plan = patchlake_discover::discover(&factory, &config)
        .await
        .context("discovering accounts")?;
    let account_ids: Vec<String> = plan.accounts.iter().map(|a| a.id.clone()).collect();
    let targets = targets(&account_ids, &plan.regions);
    let run_id = RunId::generate();
    let started_at = run_id.started_at();
    tracing::info!(run_id = %run_id, accounts = account_ids.len(), regions = plan.regions.len(),
        targets = targets.len(), "run started");

    let collector = Collector::new(factory, config.clone());
    let mut outputs = collector.collect_all(targets);
    let mut coverage = Vec::new();
    while let Some(task) = outputs.next().await {
        lake.stage(&run_id, &task).await.with_context(|| {
            format!(
                "staging account {} region {} of run {run_id}",
                task.coverage.account_id, task.coverage.region
            )
        })?;
        coverage.push(task.coverage);
    }
    coverage.sort_by(|a, b| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)));

    let meta = RunMeta {
        run_id: run_id.clone(),
        started_at,
        finished_at: None,
        config_sha256: config.sha256(),
        accounts: account_ids.len() as i32,
        regions: plan.regions.len() as i32,
    };
    let run = lake
        .finalize(&meta)
        .await
        .with_context(|| format!("committing run {run_id}"))?;
    tracing::info!(run_id = %run_id, tasks_ok = run.tasks_ok, tasks_partial = run.tasks_partial,
        tasks_failed = run.tasks_failed, "run committed");
    Ok(RunSummary {
        run,
        coverage,
        skipped_accounts: plan.skipped,
    })
}
