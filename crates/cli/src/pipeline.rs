//! One collection run, end to end: discover → assume → collect → stage → finalize.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use aws_credential_types::Credentials;
use futures::StreamExt;
use futures::future::BoxFuture;
use patchlake_assume::ClientFactory;
use patchlake_collect::{Collector, Prior, PriorRun, Target, targets};
use patchlake_config::Config;
use patchlake_lake::{Lake, RunMeta};
use patchlake_model::{
    Coverage, CoverageStatus, InstancePatch, PatchState, RunId, RunRecord, Table,
};
use patchlake_query::{AsOf, LakeQuery, ReportParams};

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

/// The lake's latest committed run, as the [`PriorRun`] of an incremental collection.
struct LakePrior {
    query: LakeQuery,
}

/// The latest committed run to collect incrementally against, unless the configuration asks
/// for a full run or there is none.
async fn previous_run(lake: &Lake, config: &Config) -> Option<LakePrior> {
    if !config.collect.incremental {
        return None;
    }
    match LakeQuery::from_lake(lake, AsOf::Latest, ReportParams::default()).await {
        Ok(query) => {
            tracing::info!(run_id = %query.run().run_id, "collecting incrementally against the latest committed run");
            Some(LakePrior { query })
        }
        Err(e) => {
            tracing::info!("full collection: no previous run to reuse ({e})");
            None
        }
    }
}

impl LakePrior {
    async fn rows<T: serde::de::DeserializeOwned>(
        &self,
        table: Table,
        target: &Target,
    ) -> Result<Vec<T>> {
        // Account ids and regions are validated (digits, [a-z0-9-]) before they get here.
        let sql = format!(
            "SELECT * FROM {} WHERE account_id = '{}' AND region = '{}'",
            table.name(),
            target.account_id,
            target.region
        );
        let mut rows = Vec::new();
        for b in self.query.sql(&sql).await? {
            rows.extend(patchlake_model::batch::deserialize_rows(table, &b)?);
        }
        Ok(rows)
    }

    async fn prior(&self, target: &Target) -> Result<Prior> {
        let states: Vec<PatchState> = self.rows(Table::PatchStates, target).await?;
        let patches: Vec<InstancePatch> = self.rows(Table::InstancePatches, target).await?;
        let mut prior = Prior::default();
        for s in states {
            prior.states.insert(s.instance_id.clone(), s);
        }
        for p in patches {
            prior
                .patches
                .entry(p.instance_id.clone())
                .or_default()
                .push(p);
        }
        Ok(prior)
    }
}

impl PriorRun for LakePrior {
    fn load<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Option<Prior>> {
        Box::pin(async move {
            match self.prior(target).await {
                Ok(p) => Some(p),
                Err(e) => {
                    // Not fatal: the target is simply collected in full.
                    tracing::warn!(account_id = %target.account_id, region = %target.region,
                        "cannot read the previous run, collecting in full: {e:#}");
                    None
                }
            }
        })
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

    let collector = match previous_run(&lake, &config).await {
        Some(prior) => Collector::with_prior(factory, config.clone(), Arc::new(prior)),
        None => Collector::new(factory, config.clone()),
    };
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
