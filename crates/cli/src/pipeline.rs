//! One collection run, end to end: discover → assume → collect → stage → finalize.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use aws_credential_types::Credentials;
use futures::StreamExt;
use futures::future::BoxFuture;
use patchlake_assume::ClientFactory;
use patchlake_collect::{Collector, Prior, PriorPatches, PriorRun, Target};
use patchlake_config::Config;
use patchlake_lake::{Lake, RunMeta};
use patchlake_model::{
    Coverage, CoverageStatus, PATCH_SPILL_ROWS, PatchState, RunId, RunRecord, SpilledChunk, Table,
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
    query: Arc<LakeQuery>,
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
                // One partition: the prior is read one account-region at a time, streamed into
                // compressed chunks, by a collector that waits on SSM rather than CPU. With a
                // partition per core DataFusion split the run's file into byte ranges read at
                // once and repartitioned, which took the Lambda `collect` of a 10,000-instance
                // account-region from 237 to 304-350 MiB peak RSS (the predicate cache, filter
                // pushdown and malloc_trim after the read were measured and did not matter).
                query
                    .context()
                    .state_ref()
                    .write()
                    .config_mut()
                    .options_mut()
                    .execution
                    .target_partitions = 1;
                tracing::info!(run_id = %query.run().run_id, "collecting incrementally against the latest committed run");
                Some(LakePrior {
                    query: Arc::new(query),
                })
            }
            Err(e) => {
                tracing::info!("full collection: no previous run to reuse ({e})");
                None
            }
        }
    }
}

/// The SQL condition selecting one account-region's rows.
fn target_filter(target: &Target) -> String {
    // Account ids and regions are validated (digits, [a-z0-9-]) before they get here.
    format!(
        "account_id = '{}' AND region = '{}'",
        target.account_id, target.region
    )
}

/// A string column of a query result as `Utf8`, whatever string type the reader chose.
fn utf8_column(batch: &RecordBatch, name: &str) -> Result<ArrayRef> {
    let column = batch
        .column_by_name(name)
        .with_context(|| format!("query result without column {name}"))?;
    Ok(arrow::compute::cast(column, &DataType::Utf8)?)
}

impl LakePrior {
    async fn prior(&self, target: &Target) -> Result<Prior> {
        let filter = target_filter(target);
        let mut states = HashMap::new();
        let sql = format!("SELECT * FROM {} WHERE {filter}", Table::PatchStates.name());
        for b in self.query.sql(&sql).await? {
            for s in patchlake_model::batch::deserialize_rows::<PatchState>(Table::PatchStates, &b)?
            {
                states.insert(s.instance_id.clone(), s);
            }
        }
        // Counted, not read: the rows are read only for the instances the collector reuses.
        let sql = format!(
            "SELECT instance_id, COUNT(*) AS n FROM {} WHERE {filter} GROUP BY instance_id",
            Table::InstancePatches.name()
        );
        let mut patch_rows = HashMap::new();
        for b in self.query.sql(&sql).await? {
            let ids = utf8_column(&b, "instance_id")?;
            let n = arrow::compute::cast(b.column(1), &DataType::Int64)?;
            let (ids, n) = (ids.as_string::<i32>(), n.as_primitive::<Int64Type>());
            for (id, n) in ids.iter().zip(n.iter()) {
                if let (Some(id), Some(n)) = (id, n) {
                    patch_rows.insert(id.to_owned(), n);
                }
            }
        }
        Ok(Prior {
            states,
            patches: Box::new(LakePriorPatches {
                query: self.query.clone(),
                filter,
                patch_rows: patch_rows.clone(),
            }),
            patch_rows,
        })
    }
}

/// One account-region's `instance_patches` rows in the latest committed run, streamed and
/// filtered batch by batch into compressed chunks, so memory does not grow with the
/// account-region's patch count.
struct LakePriorPatches {
    query: Arc<LakeQuery>,
    filter: String,
    patch_rows: HashMap<String, i64>,
}

impl LakePriorPatches {
    async fn chunks(&self, ids: &HashSet<String>) -> Result<Vec<SpilledChunk>> {
        let schema = Table::InstancePatches.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {}",
            columns.join(", "),
            Table::InstancePatches.name(),
            self.filter
        );
        let mut stream = self
            .query
            .context()
            .sql(&sql)
            .await?
            .execute_stream()
            .await?;
        let mut chunks = Vec::new();
        let mut pending: Vec<RecordBatch> = Vec::new();
        let mut pending_rows = 0;
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let keep: BooleanArray = utf8_column(&batch, "instance_id")?
                .as_string::<i32>()
                .iter()
                .map(|id| Some(id.is_some_and(|id| ids.contains(id))))
                .collect();
            let batch = arrow::compute::filter_record_batch(&batch, &keep)?;
            if batch.num_rows() == 0 {
                continue;
            }
            // The reader may choose other physical types (string views): back to the table's.
            let cast = schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| arrow::compute::cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let batch = RecordBatch::try_new(schema.clone(), cast)?;
            pending_rows += batch.num_rows();
            rows += batch.num_rows();
            pending.push(batch);
            if pending_rows >= PATCH_SPILL_ROWS {
                chunks.push(SpilledChunk::from_batches(
                    Table::InstancePatches,
                    &std::mem::take(&mut pending),
                )?);
                pending_rows = 0;
            }
        }
        if !pending.is_empty() {
            chunks.push(SpilledChunk::from_batches(
                Table::InstancePatches,
                &pending,
            )?);
        }
        let expected: i64 = ids.iter().filter_map(|id| self.patch_rows.get(id)).sum();
        anyhow::ensure!(
            rows as i64 == expected,
            "read {rows} instance_patches rows of {} instances, counted {expected}",
            ids.len()
        );
        Ok(chunks)
    }
}

impl PriorPatches for LakePriorPatches {
    fn read(
        &self,
        instance_ids: HashSet<String>,
    ) -> BoxFuture<'_, std::result::Result<Vec<SpilledChunk>, String>> {
        Box::pin(async move {
            self.chunks(&instance_ids)
                .await
                .map_err(|e| format!("{e:#}"))
        })
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
