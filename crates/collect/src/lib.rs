//! Collection: everything patch compliance needs from SSM, one account-region at a time.
//!
//! A [`Collector`] turns a list of [`Target`]s (account × region) into a stream of
//! [`TaskOutput`]s, running targets concurrently (`collect.concurrency`) and the calls inside a
//! target concurrently too (`collect.per_region_concurrency`), at the API maxima (50 instance ids
//! per DescribeInstancePatchStates, 50 rows per page). A target never fails the run: what could
//! not be collected is described in its `coverage` row, and whatever was collected before a
//! failure is kept. Retries and backoff belong to the client factory (`patchlake-assume`); this
//! crate does not retry on its own and does no I/O other than AWS calls.

mod convert;
mod task;

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use patchlake_assume::{ClientFactory, RoleAssumer};
use patchlake_config::Config;
use patchlake_model::{InstancePatch, PatchState, TaskOutput};

/// What the previous committed run holds for one account-region: the basis of incremental
/// collection.
#[derive(Debug, Default, Clone)]
pub struct Prior {
    /// Patch state per instance id.
    pub states: HashMap<String, PatchState>,
    /// Per-instance patch rows per instance id.
    pub patches: HashMap<String, Vec<InstancePatch>>,
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
    pub fn collect_all(&self, targets: Vec<Target>) -> impl Stream<Item = TaskOutput> + use<> {
        let this = self.clone();
        let concurrency = self.inner.config.collect.concurrency;
        futures::stream::iter(targets)
            .map(move |t| {
                let this = this.clone();
                async move { this.collect(&t).await }
            })
            .buffer_unordered(concurrency)
    }
}
