//! One collection run, end to end: discover → assume → collect → stage → finalize.

use std::sync::Arc;

use anyhow::{Context, Result};
use aws_credential_types::Credentials;
use futures::StreamExt;
use futures::future::BoxFuture;
use patchlake_assume::ClientFactory;
use patchlake_collect::{Collector, Prior, PriorRun, Target};
use patchlake_config::Config;
use patchlake_lake::{Lake, RunMeta};
use patchlake_model::{
    Coverage, CoverageStatus, InstancePatch, PatchState, RunId, RunRecord, Table,
};
use patchlake_query::{AsOf, LakeQuery, ReportParams};

use crate::progress::{Mode, Progress};

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

/// The lake's latest committed run, as the [`PriorRun`] of an incremental collection (the CLI's
/// `collect` and the Lambda `collect` function).
pub struct LakePrior {
    query: LakeQuery,
}

impl LakePrior {
    /// The latest committed run to collect incrementally against, unless the configuration
    /// asks for a full run or there is none.
    pub async fn open(lake: &Lake, config: &Config) -> Option<LakePrior> {
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

/// Opens the lake named by `lake.root`: a local directory, or `s3://bucket/prefix` through an
/// S3 client the client factory builds from the `lake.*` keys (the starting identity from the
/// standard credential chain).
pub async fn open_lake(config: &Config) -> Result<Lake> {
    open_lake_with(config, None).await
}

/// [`open_lake`] with the run's client factory, so an S3 lake is written with the same
/// starting identity as the rest of the run.
pub async fn open_lake_with(config: &Config, factory: Option<&ClientFactory>) -> Result<Lake> {
    let root = &config.lake.root;
    let s3 = if root.starts_with("s3://") {
        let owned;
        let factory = match factory {
            Some(f) => f,
            None => {
                owned = ClientFactory::new(&config.aws, None).await;
                &owned
            }
        };
        Some((factory.s3(&config.lake), factory.s3_credentials()))
    } else {
        None
    };
    Lake::open_configured(&config.lake, s3)
        .await
        .map_err(|e| explain(e, config))
        .with_context(|| format!("opening the lake at lake.root = {root:?}"))
}

/// A lake error with the configuration key to look at, when one is to blame.
pub fn explain(e: patchlake_lake::Error, config: &Config) -> anyhow::Error {
    use patchlake_lake::Error as E;
    let lake = &config.lake;
    let hint = match &e {
        E::WrongBucketOwner { .. } => Some(format!(
            "check lake.expected_bucket_owner ({:?})",
            lake.expected_bucket_owner.as_deref().unwrap_or_default()
        )),
        E::KmsDenied { .. } => Some(match &lake.kms_key_id {
            Some(key) => format!(
                "check lake.kms_key_id ({key:?}): the key must exist, be enabled and allow kms:GenerateDataKey and kms:Decrypt"
            ),
            None => "the bucket's default KMS key refuses this identity: set lake.kms_key_id or grant kms:GenerateDataKey and kms:Decrypt".to_owned(),
        }),
        E::NoSuchBucket { .. } => Some(format!(
            "check lake.root and lake.region ({})",
            lake.region.as_deref().unwrap_or(&config.aws.home_region)
        )),
        E::InvalidUrl { .. } => Some("check lake.root".to_owned()),
        E::AccessDenied { .. } => Some(
            "the starting identity needs s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on the lake prefix".to_owned(),
        ),
        _ => None,
    };
    match hint {
        Some(hint) => anyhow::Error::new(e).context(hint),
        None => anyhow::Error::new(e),
    }
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
    collect_run_as(config, credentials, RunId::generate()).await
}

/// [`collect_run`] under a given run id (reproducible lakes: golden tests, benchmarks). The
/// id's time is the run's start and decides its `dt` partition.
pub async fn collect_run_as(
    config: Arc<Config>,
    credentials: Option<Credentials>,
    run_id: RunId,
) -> Result<RunSummary> {
    let factory = ClientFactory::new(&config.aws, credentials)
        .await
        .with_max_calls_per_second(config.collect.max_calls_per_second);
    let lake = open_lake_with(&config, Some(&factory)).await?;
    let plan = patchlake_discover::discover(&factory, &config)
        .await
        .context("discovering accounts")?;
    let account_ids: Vec<String> = plan.accounts.iter().map(|a| a.id.clone()).collect();
    let started_at = run_id.started_at();

    let factory_stats = factory.run_stats().clone();
    let collector = match LakePrior::open(&lake, &config).await {
        Some(prior) => Collector::with_prior(factory, config.clone(), Arc::new(prior)),
        None => Collector::new(factory, config.clone()),
    };
    // Account × region targets; with regions.source = "enabled", each account's own regions.
    let target_plan = collector.plan(&account_ids).await;
    let targets = target_plan.targets;
    tracing::info!(run_id = %run_id, accounts = account_ids.len(), regions = target_plan.regions.len(),
        targets = targets.len(), not_collected = target_plan.not_collected.len(), "run started");
    let mut coverage = Vec::new();
    for task in target_plan.not_collected {
        lake.stage(&run_id, &task)
            .await
            .map_err(|e| explain(e, &config))
            .with_context(|| {
                format!(
                    "staging the coverage of account {} region {} of run {run_id}",
                    task.coverage.account_id, task.coverage.region
                )
            })?;
        coverage.push(task.coverage);
    }
    let progress = Progress::start(&targets, factory_stats, Mode::detect());
    let mut outputs = collector.collect_all(targets);
    while let Some(task) = outputs.next().await {
        progress.target_done(&task.coverage);
        lake.stage(&run_id, &task)
            .await
            .map_err(|e| explain(e, &config))
            .with_context(|| {
                format!(
                    "staging account {} region {} of run {run_id}",
                    task.coverage.account_id, task.coverage.region
                )
            })?;
        coverage.push(task.coverage);
    }
    progress.finish().await;
    coverage.sort_by(|a, b| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)));

    let meta = RunMeta {
        run_id: run_id.clone(),
        started_at,
        finished_at: None,
        config_sha256: config.sha256(),
        accounts: account_ids.len() as i32,
        regions: target_plan.regions.len() as i32,
    };
    let run = lake
        .finalize(&meta)
        .await
        .map_err(|e| explain(e, &config))
        .with_context(|| format!("committing run {run_id}"))?;
    tracing::info!(run_id = %run_id, tasks_ok = run.tasks_ok, tasks_partial = run.tasks_partial,
        tasks_failed = run.tasks_failed, "run committed");
    Ok(RunSummary {
        run,
        coverage,
        skipped_accounts: plan.skipped,
    })
}
