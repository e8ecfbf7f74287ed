//! Collection: everything patch compliance needs from SSM, one account-region at a time.
//!
//! A [`Collector`] turns a list of [`Target`]s (account × region) into a stream of
//! [`TaskOutput`]s, running targets concurrently (`collect.concurrency`) and the calls inside a
//! target concurrently too (`collect.per_region_concurrency`), at the API maxima (50 instance ids
//! per DescribeInstancePatchStates, 50 rows per page). A target never fails the run: what could
//! not be collected is described in its `coverage` row, and whatever was collected before a
//! failure is kept. Retries and backoff belong to the client factory (`patchlake-assume`); this
//! crate does not retry on its own and does no I/O other than AWS calls.

#[doc(hidden)]
pub mod convert;
mod task;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use patchlake_assume::{ClientFactory, RoleAssumer};
use patchlake_config::{Config, RegionSource};
use patchlake_model::{Coverage, CoverageStatus, PatchState, SpilledChunk, TaskOutput};

/// What the previous committed run holds for one account-region: the basis of incremental
/// collection. Its per-instance patch rows are not held (an account-region can have
/// millions): only how many each instance has, and a reader for the rows of the instances
/// the collector decides to reuse.
pub struct Prior {
    /// Patch state per instance id.
    pub states: HashMap<String, PatchState>,
    /// Per-instance patch rows per instance id, counted.
    pub patch_rows: HashMap<String, i64>,
    /// Reads those rows.
    pub patches: Box<dyn PriorPatches>,
}

/// Reads the previous run's per-instance patch rows of one account-region.
pub trait PriorPatches: Send + Sync {
    /// The rows of `instance_ids` (all of them, or an error), as compressed chunks of at most
    /// [`patchlake_model::PATCH_SPILL_ROWS`] rows.
    fn read(
        &self,
        instance_ids: HashSet<String>,
    ) -> BoxFuture<'_, Result<Vec<SpilledChunk>, String>>;
}

/// A source of [`Prior`] data (the lake's latest committed run).
pub trait PriorRun: Send + Sync {
    /// The prior data of `target`, or `None` when there is none (first run, new target).
    fn load<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Option<Prior>>;
}

/// One account-region to collect.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub account_id: String,
    pub region: String,
}

impl Target {
    pub fn new(account_id: impl Into<String>, region: impl Into<String>) -> Self {
        Target {
            account_id: account_id.into(),
            region: region.into(),
        }
    }
}

/// Every (account, region) pair of `accounts` × `regions`, in a stable order.
pub fn targets(accounts: &[String], regions: &[String]) -> Vec<Target> {
    accounts
        .iter()
        .flat_map(|a| {
            regions
                .iter()
                .map(move |r| Target::new(a.clone(), r.clone()))
        })
        .collect()
}

/// The account-regions of a run: what to collect, and the coverage rows of what will not be
/// collected (regions the account has not enabled, accounts whose regions could not be
/// listed).
#[derive(Debug, Default)]
pub struct TargetPlan {
    pub targets: Vec<Target>,
    /// Finished outputs with only a `skipped` or `failed` coverage row, to stage as they are.
    pub not_collected: Vec<TaskOutput>,
    /// Distinct regions of `targets`.
    pub regions: Vec<String>,
}

fn coverage_only(
    account_id: &str,
    region: &str,
    status: CoverageStatus,
    code: String,
    message: String,
    api_calls: u64,
) -> TaskOutput {
    let now = chrono::Utc::now();
    TaskOutput::empty(Coverage {
        account_id: account_id.to_owned(),
        region: region.to_owned(),
        status,
        error_code: Some(code),
        error_message: Some(message),
        api_calls: api_calls as i64,
        throttled_calls: 0,
        retries: 0,
        started_at: now,
        finished_at: now,
        instances: 0,
    })
}

/// Collects patch compliance data with the real SSM client.
#[derive(Clone)]
pub struct Collector {
    inner: Arc<Inner>,
}

struct Inner {
    factory: ClientFactory,
    assumer: RoleAssumer,
    config: Arc<Config>,
    prior: Option<Arc<dyn PriorRun>>,
}

impl Collector {
    pub fn new(factory: ClientFactory, config: Arc<Config>) -> Self {
        let assumer = RoleAssumer::new(factory.clone(), config.clone());
        Collector {
            inner: Arc::new(Inner {
                factory,
                assumer,
                config,
                prior: None,
            }),
        }
    }

    /// Reuses per-instance patches from `prior` for instances whose patch state has not
    /// changed since (same snapshot, operation end time and counts), instead of calling
    /// DescribeInstancePatches again.
    pub fn with_prior(
        factory: ClientFactory,
        config: Arc<Config>,
        prior: Arc<dyn PriorRun>,
    ) -> Self {
        let mut c = Self::new(factory, config);
        Arc::get_mut(&mut c.inner).expect("fresh collector").prior = Some(prior);
        c
    }

    /// The account-regions to collect for `accounts`. `regions.source = "static"`:
    /// `regions.names` minus `regions.exclude` in every account. `"enabled"`: each account's
    /// enabled regions (account:ListRegions with its own session, `collect.concurrency`
    /// accounts at a time), within `regions.names` when set; regions it has not enabled get a
    /// `skipped` row. When the regions of an account cannot be listed, `regions.names` is
    /// used if set, else the account gets one `failed` row in the home region.
    pub async fn plan(&self, accounts: &[String]) -> TargetPlan {
        let config = &self.inner.config;
        let mut plan = TargetPlan::default();
        match config.regions.source {
            RegionSource::Static => {
                let regions: Vec<String> = config
                    .regions
                    .names
                    .iter()
                    .filter(|r| !config.regions.exclude.contains(r))
                    .cloned()
                    .collect();
                plan.targets = targets(accounts, &regions);
            }
            RegionSource::Enabled => {
                let listed: Vec<_> = futures::stream::iter(accounts)
                    .map(|account_id| async move {
                        let r = patchlake_discover::enabled_regions(
                            &self.inner.factory,
                            &self.inner.assumer,
                            config,
                            account_id,
                        )
                        .await;
                        (account_id, r)
                    })
                    .buffered(config.collect.concurrency.max(1))
                    .collect()
                    .await;
                let fallback: Vec<String> = config
                    .regions
                    .names
                    .iter()
                    .filter(|r| !config.regions.exclude.contains(r))
                    .cloned()
                    .collect();
                for (account_id, r) in listed {
                    match r {
                        Ok(regions) => {
                            plan.targets.extend(
                                regions
                                    .collect
                                    .iter()
                                    .map(|region| Target::new(account_id.clone(), region.clone())),
                            );
                            for s in regions.skipped {
                                plan.not_collected.push(coverage_only(
                                    account_id,
                                    &s.region,
                                    CoverageStatus::Skipped,
                                    s.error_code,
                                    s.message,
                                    0,
                                ));
                            }
                        }
                        Err(e) if !fallback.is_empty() => {
                            tracing::warn!(account_id = %account_id,
                                "{e}; collecting regions.names instead");
                            plan.targets.extend(
                                fallback
                                    .iter()
                                    .map(|region| Target::new(account_id.clone(), region.clone())),
                            );
                        }
                        Err(e) => {
                            tracing::warn!(account_id = %account_id, "{e}");
                            plan.not_collected.push(coverage_only(
                                account_id,
                                self.inner.factory.home_region(),
                                CoverageStatus::Failed,
                                e.code(),
                                e.to_string(),
                                0,
                            ));
                        }
                    }
                }
            }
        }
        let mut regions: Vec<String> = plan.targets.iter().map(|t| t.region.clone()).collect();
        regions.sort();
        regions.dedup();
        plan.regions = regions;
        plan
    }

    /// The role assumer, whose session cache is shared by every target of an account.
    pub fn assumer(&self) -> &RoleAssumer {
        &self.inner.assumer
    }

    /// Collects one account-region. Never fails: failures are described in the coverage row.
    pub async fn collect(&self, target: &Target) -> TaskOutput {
        let prior = match &self.inner.prior {
            Some(p) => p.load(target).await,
            None => None,
        };
        task::collect_target(
            &self.inner.factory,
            &self.inner.assumer,
            &self.inner.config,
            target,
            prior,
        )
        .await
    }

    /// Collects every target, `collect.concurrency` at a time, yielding each output as soon
    /// as it is complete (so the caller can stage it and memory stays bounded).
    ///
    /// Each target is a tokio task of its own, so targets are collected on every worker
    /// thread rather than all polled by the caller's task; dropping the stream aborts them.
    pub fn collect_all(&self, targets: Vec<Target>) -> impl Stream<Item = TaskOutput> + use<> {
        let this = self.clone();
        let concurrency = self.inner.config.collect.concurrency;
        futures::stream::iter(targets)
            .map(move |t| {
                let this = this.clone();
                AbortOnDrop(tokio::spawn(async move { this.collect(&t).await }))
            })
            .buffer_unordered(concurrency)
    }
}

/// A spawned target: aborted when its output is no longer wanted, its panic re-raised.
struct AbortOnDrop(tokio::task::JoinHandle<TaskOutput>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::future::Future for AbortOnDrop {
    type Output = TaskOutput;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<TaskOutput> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|r| match r {
            Ok(out) => out,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("collector task cancelled while awaited: {e}"),
        })
    }
}
