//! Collection of one account-region.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::{PatchOrchestratorFilter, ResourceTypeForTagging, ResultAttribute};
use chrono::Utc;
use futures::channel::{mpsc, oneshot};
use futures::future::{FutureExt, Shared};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use patchlake_assume::{AwsError, CallStats, ClientFactory, ErrorKind, RoleAssumer, classify};
use patchlake_config::Config;
use patchlake_model::{Coverage, CoverageStatus, Instance, InstancePatch, PatchState, TaskOutput};
use tracing::Instrument;

use crate::convert;
use crate::{Prior, Target};

/// DescribeInstancePatchStates accepts at most this many instance ids per call.
pub const PATCH_STATE_BATCH: usize = 50;
/// The largest page SSM's Describe* calls return for instances and patches.
pub const PAGE_SIZE: i32 = 50;

type Tags = BTreeMap<String, String>;

/// SSM's answer to a NextToken that expired between pages.
const INVALID_NEXT_TOKEN: &str = "InvalidNextToken";

/// The pages of a paginator as a stream a [`Listing`] can start again.
macro_rules! pages {
    ($paginator:expr) => {
        futures::stream::unfold($paginator.send(), |mut p| async move {
            p.next().await.map(|page| (page, p))
        })
        .boxed()
    };
}

type PageStream<P, E> = BoxStream<'static, Result<P, SdkError<E>>>;

/// What a [`Listing`] yields.
enum Next<P> {
    /// A page whose items all carry their identifier.
    Page(P),
    /// The NextToken expired and the listing began again from its first page: what was read
    /// before comes again, so the caller drops or deduplicates it.
    Restarted,
}

/// The pages of one listing. SSM's pagination tokens expire; a listing whose token is
/// rejected (`InvalidNextToken`) restarts from its first page, up to [`MAX_RESTARTS`] times,
/// and fails with that code only when it happens once more. A page still malformed after the
/// SDK's retries fails the listing with `MalformedResponse`.
struct Listing<'t, P, E, F> {
    target: &'t Target,
    operation: &'static str,
    start: F,
    pages: PageStream<P, E>,
    restarts: u32,
}

/// Restarts of one listing after a rejected pagination token. One is not enough when tokens
/// expire often (at 5 % of continuation calls, a restarted listing of ten pages meets a second
/// rejection one time in three); unbounded would loop on a token the service always rejects.
const MAX_RESTARTS: u32 = 3;

impl<'t, P, E, F> Listing<'t, P, E, F>
where
    P: convert::Page,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    F: Fn() -> PageStream<P, E>,
{
    fn new(target: &'t Target, operation: &'static str, start: F) -> Self {
        let pages = start();
        Listing {
            target,
            operation,
            start,
            pages,
            restarts: 0,
        }
    }

    async fn next(&mut self) -> Option<Result<Next<P>, AwsError>> {
        let page = self
            .pages
            .next()
            .await?
            .map_err(|e| classify(self.operation, &e))
            .and_then(|p| convert::whole(self.operation, p));
        Some(match page {
            Ok(p) => Ok(Next::Page(p)),
            Err(e) if e.code == INVALID_NEXT_TOKEN && self.restarts < MAX_RESTARTS => {
                self.restarts += 1;
                tracing::info!(account_id = %self.target.account_id, region = %self.target.region,
                    op = self.operation, restart = self.restarts,
                    "pagination token expired; listing again from the first page");
                self.pages = (self.start)();
                Ok(Next::Restarted)
            }
            Err(e) => Err(e),
        })
    }

    /// Every page; on a failure, the pages read since the (re)start and the error.
    async fn all(mut self) -> (Vec<P>, Option<AwsError>) {
        let mut pages = Vec::new();
        while let Some(next) = self.next().await {
            match next {
                Ok(Next::Page(p)) => pages.push(p),
                Ok(Next::Restarted) => pages.clear(),
                Err(e) => return (pages, Some(e)),
            }
        }
        (pages, None)
    }

    async fn try_all(self) -> Result<Vec<P>, AwsError> {
        match self.all().await {
            (pages, None) => Ok(pages),
            (_, Some(e)) => Err(e),
        }
    }
}

/// Errors met during a target that did not stop it; the first one is reported in coverage.
#[derive(Default)]
struct Problems {
    first: Option<AwsError>,
    count: usize,
}

impl Problems {
    fn record(&mut self, target: &Target, e: AwsError) {
        tracing::warn!(account_id = %target.account_id, region = %target.region,
            op = e.operation, code = %e.code, "call failed after retries; target is partial: {}", e.message);
        self.count += 1;
        self.first.get_or_insert(e);
    }
}

pub(crate) async fn collect_target(
    factory: &ClientFactory,
    assumer: &RoleAssumer,
    config: &Config,
    target: &Target,
    prior: Option<Prior>,
) -> TaskOutput {
    let started_at = Utc::now();
    let stats = CallStats::new();
    let mut out = TaskOutput::empty(Coverage {
        account_id: target.account_id.clone(),
        region: target.region.clone(),
        status: CoverageStatus::Ok,
        error_code: None,
        error_message: None,
        api_calls: 0,
        throttled_calls: 0,
        retries: 0,
        started_at,
        finished_at: started_at,
        instances: 0,
    });
    let span =
        tracing::info_span!("collect", account_id = %target.account_id, region = %target.region);

    let mut skipped = None;
    let result = async {
        match assumer.credentials_for(&target.account_id).await {
            Err(e) => Err((e.code().to_owned(), e.to_string())),
            Ok(identity) => {
                let ssm = factory.ssm_checked(
                    &target.account_id,
                    &target.region,
                    identity.clone(),
                    &stats,
                    convert::malformed,
                );
                let mut problems = Problems::default();
                match collect_with(&ssm, config, target, prior, &mut out, &mut problems).await {
                    Err(e)
                        if e.code == "UnrecognizedClientException" && out.instances.is_empty() =>
                    {
                        // SSM does not know the session in a region the account has not
                        // enabled; ask the account which it is before calling it a failure.
                        skipped = disabled_region(factory, identity, &stats, target).await;
                        Err((e.code.clone(), describe(target, &e)))
                    }
                    Err(e) => Err((e.code.clone(), describe(target, &e))),
                    Ok(()) => Ok(problems),
                }
            }
        }
    }
    .instrument(span)
    .await;

    let s = stats.snapshot();
    let c = &mut out.coverage;
    c.api_calls = s.attempts as i64;
    c.throttled_calls = s.throttled as i64;
    c.retries = s.retries() as i64;
    c.finished_at = Utc::now();
    c.instances = out.instances.len() as i64;
    match result {
        Err(_) if skipped.is_some() => {
            c.status = CoverageStatus::Skipped;
            c.error_code = Some(patchlake_discover::REGION_DISABLED.to_owned());
            c.error_message = skipped;
        }
        Err((code, message)) => {
            c.status = CoverageStatus::Failed;
            c.error_code = Some(code);
            c.error_message = Some(message);
        }
        Ok(problems) => {
            if let Some(first) = problems.first {
                c.status = CoverageStatus::Partial;
                c.error_code = Some(first.code.clone());
                c.error_message = Some(format!(
                    "{} call(s) failed after retries; first: {}",
                    problems.count,
                    describe(target, &first)
                ));
            }
        }
    }
    tracing::info!(account_id = %target.account_id, region = %target.region,
        status = c.status.as_str(), instances = c.instances, api_calls = c.api_calls,
        throttled = c.throttled_calls, "target collected");
    out
}

/// `Some(message)` when account:ListRegions confirms that the target's region is not enabled
/// in the account (or not offered to it at all); `None` when it is enabled or cannot be told.
async fn disabled_region(
    factory: &ClientFactory,
    identity: aws_credential_types::provider::SharedCredentialsProvider,
    stats: &std::sync::Arc<CallStats>,
    target: &Target,
) -> Option<String> {
    match patchlake_discover::region_status(factory, identity, stats, &target.region).await {
        Ok(Some(status)) if patchlake_discover::status_is_enabled(&status) => None,
        Ok(Some(status)) => Some(patchlake_discover::disabled_message(
            &target.account_id,
            &target.region,
            &status,
        )),
        Ok(None) => Some(format!(
            "region {} is not offered to account {} (not listed by account:ListRegions): not collected",
            target.region, target.account_id
        )),
        Err(e) => {
            tracing::info!(account_id = %target.account_id, region = %target.region,
                "cannot tell whether the region is enabled: {e}");
            None
        }
    }
}

fn describe(target: &Target, e: &AwsError) -> String {
    format!(
        "{} in account {} region {}: {}: {}",
        e.operation, target.account_id, target.region, e.code, e.message
    )
}

/// Collects everything for the target into `out`. Returns `Err` only when nothing useful can
/// be collected (the instance inventory itself failed); later failures are `problems`.
///
/// The calls run as independent branches at once, so that the account-region's pacer, not
/// the order of phases, is the limit: the instance chain (instance pages → patch-state
/// batches as soon as 50 ids are listed → DescribeInstancePatches as soon as a state arrives,
/// tags once every state is in), baselines, patch groups, maintenance windows and inventory.
/// Nothing but the first instance page is called before that page succeeds, so a denied or
/// disabled account-region costs one call.
async fn collect_with(
    ssm: &Client,
    config: &Config,
    target: &Target,
    prior: Option<Prior>,
    out: &mut TaskOutput,
    problems: &mut Problems,
) -> Result<(), AwsError> {
    let conc = config.collect.per_region_concurrency;
    let (opened_tx, opened_rx) = oneshot::channel::<()>();
    let (listed_tx, listed_rx) = oneshot::channel::<Listed>();
    let opened = opened_rx.shared();
    let listed = listed_rx.shared();

    let (chain, baselines, groups, windows, applications) = futures::join!(
        instance_chain(ssm, config, target, prior, opened_tx, listed_tx),
        collect_baselines(ssm, target, opened.clone(), listed.clone(), conc),
        after(opened.clone(), collect_patch_groups(ssm, target)),
        after(opened, collect_windows(ssm, target, conc)),
        collect_applications(ssm, config, target, listed),
    );

    let Chain {
        instances,
        states,
        patches,
        errors,
        fatal,
    } = chain;
    out.instances = instances;
    out.patch_states = states;
    out.instance_patches = patches.values;
    out.spilled_patches = patches.spilled;
    for e in errors {
        problems.record(target, e);
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    let (b, errors) = baselines.unwrap_or_default();
    out.baselines = b;
    for e in errors {
        problems.record(target, e);
    }
    let (g, error) = groups.unwrap_or_default();
    out.patch_groups = g;
    if let Some(e) = error {
        problems.record(target, e);
    }
    match windows {
        Some(Ok(w)) => out.maintenance_windows = w,
        Some(Err(e)) => problems.record(target, e),
        None => {}
    }
    match applications {
        Some(Ok((values, spilled))) => {
            out.inventory_applications = values;
            out.spilled_applications = spilled;
        }
        Some(Err(e)) => problems.record(target, e),
        None => {}
    }
    Ok(())
}

/// Sent once every instance is listed: what the branches that depend on the fleet need.
#[derive(Clone)]
struct Listed {
    instances: usize,
    /// Operating systems of the instances (their default baselines are collected).
    systems: Arc<BTreeSet<String>>,
}

/// Runs `branch` once the first instance page succeeded; `None` when it failed.
async fn after<T>(
    opened: Shared<oneshot::Receiver<()>>,
    branch: impl Future<Output = T>,
) -> Option<T> {
    opened.await.ok()?;
    Some(branch.await)
}

/// Per-instance patch rows as they arrive: values, spilled to compressed chunks past
/// [`patchlake_model::PATCH_SPILL_ROWS`] so a 10,000-instance account-region is not held as
/// millions of row values.
#[derive(Default)]
struct PatchRows {
    values: Vec<InstancePatch>,
    spilled: Vec<patchlake_model::SpilledChunk>,
    errors: Vec<AwsError>,
}

impl PatchRows {
    fn push(&mut self, target: &Target, rows: Vec<InstancePatch>) {
        self.values.extend(rows);
        if let Err(e) = patchlake_model::spill_if_full(&mut self.values, &mut self.spilled) {
            // The rows stay as values: more memory, nothing lost.
            tracing::warn!(account_id = %target.account_id, region = %target.region,
                "could not spill patch rows: {e}");
        }
    }
}

/// What the instance chain collected.
#[derive(Default)]
struct Chain {
    instances: Vec<Instance>,
    states: Vec<PatchState>,
    patches: PatchRows,
    errors: Vec<AwsError>,
    /// The instance listing failed: the target failed (what was collected is kept).
    fatal: Option<AwsError>,
}

/// Instances, their patch states, per-instance patches and tags, pipelined: each stage starts
/// on the first results of the one before it.
async fn instance_chain(
    ssm: &Client,
    config: &Config,
    target: &Target,
    prior: Option<Prior>,
    opened: oneshot::Sender<()>,
    listed: oneshot::Sender<Listed>,
) -> Chain {
    let conc = config.collect.per_region_concurrency;
    let (batch_tx, batch_rx) = mpsc::unbounded::<Vec<String>>();
    let (patch_tx, patch_rx) = mpsc::unbounded::<String>();

    // Managed instances; full batches of ids go to DescribeInstancePatchStates as they come.
    let list = async move {
        let mut instances = Vec::new();
        let mut fatal = None;
        let mut pending = Vec::new();
        let mut opened = Some(opened);
        // Ids already listed: a listing that restarts sends each instance on once.
        let mut seen = HashSet::new();
        let req = ssm.describe_instance_information().max_results(PAGE_SIZE);
        let mut pages = Listing::new(target, "ssm:DescribeInstanceInformation", || {
            pages!(req.clone().into_paginator())
        });
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(Next::Page(p)) => p,
                Ok(Next::Restarted) => continue,
                Err(e) => {
                    fatal = Some(e);
                    break;
                }
            };
            if let Some(o) = opened.take() {
                let _ = o.send(());
            }
            for info in page.instance_information_list() {
                let i = convert::instance(target, info);
                if seen.insert(i.instance_id.clone()) {
                    pending.push(i.instance_id.clone());
                    instances.push(i);
                }
            }
            while pending.len() >= PATCH_STATE_BATCH {
                let _ = batch_tx.unbounded_send(pending.drain(..PATCH_STATE_BATCH).collect());
            }
        }
        if !pending.is_empty() {
            let _ = batch_tx.unbounded_send(pending);
        }
        drop(batch_tx);
        if fatal.is_none() {
            let systems = instances
                .iter()
                .filter_map(|i: &Instance| i.operating_system.clone())
                .collect();
            let _ = listed.send(Listed {
                instances: instances.len(),
                systems: Arc::new(systems),
            });
        }
        (instances, fatal)
    };

    // Patch states, 50 ids per call. Unchanged since the previous run: reuse its patch rows;
    // otherwise the instance goes to DescribeInstancePatches at once.
    let states = async move {
        let mut states = Vec::new();
        let mut reused = HashSet::new();
        let mut errors = Vec::new();
        let mut results = batch_rx
            .map(|batch| patch_states(ssm, target, batch))
            .buffer_unordered(conc);
        while let Some(r) = results.next().await {
            let batch = match r {
                Ok(b) => b,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            for state in batch {
                let reusable = prior.as_ref().is_some_and(|prior| {
                    prior
                        .states
                        .get(&state.instance_id)
                        .is_some_and(|old| unchanged(old, &state))
                        && prior.patch_rows.get(&state.instance_id).is_some_and(|n| {
                            *n == expected_records(&state, &config.collect.patch_states)
                        })
                });
                if reusable {
                    reused.insert(state.instance_id.clone());
                } else {
                    let _ = patch_tx.unbounded_send(state.instance_id.clone());
                }
                states.push(state);
            }
        }
        // The reused rows are read now, as compressed chunks; when they cannot be, the
        // instances are collected after all.
        let mut reused_chunks = Vec::new();
        if let Some(prior) = prior.filter(|_| !reused.is_empty()) {
            match prior.patches.read(reused.clone()).await {
                Ok(chunks) => reused_chunks = chunks,
                Err(e) => {
                    tracing::warn!(account_id = %target.account_id, region = %target.region,
                        "cannot read the previous run's patches, collecting them: {e}");
                    for id in reused {
                        let _ = patch_tx.unbounded_send(id);
                    }
                }
            }
        }
        drop(patch_tx);
        (states, reused_chunks, errors)
    };

    // Listing and states first, then tags (which need both), while patches keep flowing.
    let front = async {
        let ((instances, fatal), (states, reused, errors)) = futures::join!(list, states);
        let tags = collect_tags(ssm, target, &instances, &states, conc).await;
        (instances, fatal, states, reused, errors, tags)
    };
    let states_filter = &config.collect.patch_states;
    let patches = async {
        let mut acc = PatchRows::default();
        let mut results = patch_rx
            .map(|id| instance_patches(ssm, target, id, states_filter.clone()))
            .buffer_unordered(conc);
        while let Some(r) = results.next().await {
            match r {
                Ok(rows) => acc.push(target, rows),
                Err(e) => acc.errors.push(e),
            }
        }
        acc
    };
    let ((mut instances, fatal, states, reused, mut errors, tags), mut all_patches) =
        futures::join!(front, patches);
    all_patches.spilled.extend(reused);
    errors.append(&mut all_patches.errors);
    let Tagging {
        mut groups,
        mut tags_of,
        errors: tag_errors,
    } = tags;
    errors.extend(tag_errors);
    for i in &mut instances {
        i.patch_group = groups.remove(&i.instance_id);
        if let Some(t) = tags_of.remove(&i.instance_id) {
            i.tags = t;
        }
    }
    Chain {
        instances,
        states,
        patches: all_patches,
        errors,
        fatal,
    }
}

async fn patch_states(
    ssm: &Client,
    target: &Target,
    ids: Vec<String>,
) -> Result<Vec<PatchState>, AwsError> {
    let req = ssm
        .describe_instance_patch_states()
        .set_instance_ids(Some(ids));
    let pages = Listing::new(target, "ssm:DescribeInstancePatchStates", || {
        pages!(req.clone().into_paginator())
    })
    .try_all()
    .await?;
    Ok(pages
        .iter()
        .flat_map(|p| p.instance_patch_states())
        .map(|s| convert::patch_state(target, s))
        .collect())
}

/// Every page of one instance's patches (under the configured state filter). An instance
/// deregistered since it was listed is gone, not a failure.
async fn instance_patches(
    ssm: &Client,
    target: &Target,
    id: String,
    states_filter: Vec<String>,
) -> Result<Vec<InstancePatch>, AwsError> {
    let mut req = ssm
        .describe_instance_patches()
        .instance_id(&id)
        .max_results(PAGE_SIZE);
    if !states_filter.is_empty() {
        req = req.filters(
            PatchOrchestratorFilter::builder()
                .key("State")
                .set_values(Some(states_filter))
                .build(),
        );
    }
    match Listing::new(target, "ssm:DescribeInstancePatches", || {
        pages!(req.clone().into_paginator())
    })
    .try_all()
    .await
    {
        Ok(pages) => Ok(pages
            .iter()
            .flat_map(|p| p.patches())
            .map(|d| convert::instance_patch(target, &id, d))
            .collect()),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Patch groups (beyond the patch states') and tags of the instances.
#[derive(Default)]
struct Tagging {
    groups: BTreeMap<String, String>,
    tags_of: BTreeMap<String, Tags>,
    errors: Vec<AwsError>,
}

/// Patch groups: from the patch state when there is one, else from the instance's tags.
/// Tags: one ListTagsForResource per instance without a patch group in its state, or
/// GetInventory AWS:Tag for 50 instances per call, whichever takes fewer calls. Instances the
/// tag inventory does not cover still get ListTagsForResource.
async fn collect_tags(
    ssm: &Client,
    target: &Target,
    instances: &[Instance],
    states: &[PatchState],
    conc: usize,
) -> Tagging {
    let mut t = Tagging::default();
    let group_of: BTreeMap<&str, &str> = states
        .iter()
        .filter_map(|s| Some((s.instance_id.as_str(), s.patch_group.as_deref()?)))
        .collect();
    let mut untagged: Vec<String> = instances
        .iter()
        .filter(|i| !group_of.contains_key(i.instance_id.as_str()))
        .map(|i| i.instance_id.clone())
        .collect();
    t.groups = group_of
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let inventory_calls = instances.len().div_ceil(PAGE_SIZE as usize);
    if inventory_calls < untagged.len() {
        let mut entities = Vec::new();
        let listed = inventory(ssm, target, "AWS:Tag", |item| match item {
            Inventory::Entity(id, content) => entities.push((id.to_owned(), content.to_vec())),
            Inventory::Restarted => entities.clear(),
        })
        .await;
        match listed.map(|()| entities) {
            Ok(entities) => {
                for (id, content) in entities {
                    let tags: Tags = content
                        .iter()
                        .filter_map(|e| Some((e.get("Key")?.clone(), e.get("Value")?.clone())))
                        .collect();
                    if let Some(g) = convert::patch_group_from_tags(&tags)
                        && !group_of.contains_key(id.as_str())
                    {
                        t.groups.insert(id.clone(), g.to_owned());
                    }
                    t.tags_of.insert(id, tags);
                }
                untagged.retain(|id| !t.tags_of.contains_key(id));
            }
            Err(e) => {
                tracing::info!(account_id = %target.account_id, region = %target.region,
                    "tag inventory unavailable, listing tags per instance: {e}");
            }
        }
    }
    let tag_results: Vec<(String, Result<Tags, AwsError>)> = futures::stream::iter(untagged)
        .map(|id| async move {
            let r = ssm
                .list_tags_for_resource()
                .resource_type(ResourceTypeForTagging::ManagedInstance)
                .resource_id(&id)
                .send()
                .await
                .map_err(|e| classify("ssm:ListTagsForResource", &e))
                .and_then(|o| convert::whole("ssm:ListTagsForResource", o))
                .map(|o| {
                    o.tag_list()
                        .iter()
                        .map(|t| (t.key().to_owned(), t.value().to_owned()))
                        .collect()
                });
            (id, r)
        })
        .buffer_unordered(conc)
        .collect()
        .await;
    for (id, r) in tag_results {
        match r {
            Ok(tags) => {
                if let Some(g) = convert::patch_group_from_tags(&tags) {
                    t.groups.insert(id.clone(), g.to_owned());
                }
                t.tags_of.insert(id, tags);
            }
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => t.errors.push(e),
        }
    }
    t
}

/// Patch-group registrations; a failure keeps the pages read before it.
async fn collect_patch_groups(
    ssm: &Client,
    target: &Target,
) -> (
    Vec<patchlake_model::PatchGroupRegistration>,
    Option<AwsError>,
) {
    let req = ssm.describe_patch_groups().max_results(100);
    let (pages, error) = Listing::new(target, "ssm:DescribePatchGroups", || {
        pages!(req.clone().into_paginator())
    })
    .all()
    .await;
    let groups = pages
        .iter()
        .flat_map(|p| p.mappings())
        .map(|m| convert::patch_group(target, m))
        .collect();
    (groups, error)
}

/// Installed applications: GetInventory returns 50 instances with all their entries per
/// call, where ListInventoryEntries takes one call per instance (and more for long lists).
/// `None` when not configured or there are no instances.
async fn collect_applications(
    ssm: &Client,
    config: &Config,
    target: &Target,
    listed: Shared<oneshot::Receiver<Listed>>,
) -> Option<Result<Applications, AwsError>> {
    if !config.collect.inventory_applications {
        return None;
    }
    if listed.await.ok()?.instances == 0 {
        return None;
    }
    // Converted page by page and spilled as they grow: tens of applications per instance.
    let (mut values, mut spilled) = (Vec::new(), Vec::new());
    let listed = inventory(ssm, target, "AWS:Application", |item| match item {
        Inventory::Entity(id, content) => {
            values.extend(
                content
                    .iter()
                    .filter_map(|e| convert::inventory_application(target, id, e)),
            );
            if let Err(e) =
                patchlake_model::batch::spill_applications_if_full(&mut values, &mut spilled)
            {
                // The rows stay as values: more memory, nothing lost.
                tracing::warn!(account_id = %target.account_id, region = %target.region,
                    "could not spill inventory applications: {e}");
            }
        }
        Inventory::Restarted => {
            values.clear();
            spilled.clear();
        }
    })
    .await;
    Some(listed.map(|()| (values, spilled)))
}

/// Inventory applications as values, and spilled.
type Applications = (
    Vec<patchlake_model::InventoryApplication>,
    Vec<patchlake_model::SpilledChunk>,
);

/// What [`inventory`] hands its caller, page by page.
enum Inventory<'a> {
    /// An entity's id and its content of the inventory type.
    Entity(&'a str, &'a [std::collections::HashMap<String, String>]),
    /// The pagination token expired and the listing began again: what came before comes
    /// again, so the caller drops it.
    Restarted,
}

/// Every entity's content of one inventory type, through GetInventory at 50 entities a page,
/// handed to `each` page by page as it arrives (nothing is held here).
async fn inventory(
    ssm: &Client,
    target: &Target,
    type_name: &str,
    mut each: impl FnMut(Inventory<'_>),
) -> Result<(), AwsError> {
    let req = ssm
        .get_inventory()
        .result_attributes(
            ResultAttribute::builder()
                .type_name(type_name)
                .build()
                .expect("type_name is set"),
        )
        .max_results(PAGE_SIZE);
    let mut listing = Listing::new(target, "ssm:GetInventory", || {
        pages!(req.clone().into_paginator())
    });
    while let Some(next) = listing.next().await {
        match next? {
            Next::Page(page) => {
                for entity in page.entities() {
                    let id = entity.id().unwrap_or_default();
                    let content = entity
                        .data()
                        .and_then(|d| d.get(type_name))
                        .map(|item| item.content())
                        .unwrap_or_default();
                    each(Inventory::Entity(id, content));
                }
            }
            Next::Restarted => each(Inventory::Restarted),
        }
    }
    Ok(())
}

/// Whether a patch state reports the same scan as `old`: same snapshot, same operation end,
/// same counts. Then its per-patch records are the same too.
fn unchanged(old: &PatchState, new: &PatchState) -> bool {
    let counts = |s: &PatchState| {
        [
            s.installed,
            s.installed_other,
            s.installed_pending_reboot,
            s.installed_rejected,
            s.missing,
            s.failed,
            s.not_applicable,
        ]
    };
    old.snapshot_id.is_some()
        && old.snapshot_id == new.snapshot_id
        && old.operation_end_at == new.operation_end_at
        && old.baseline_id == new.baseline_id
        && counts(old) == counts(new)
}

/// How many DescribeInstancePatches records a state implies under the configured state
/// filter (empty: every state). Prior rows are reused only when they are exactly that many,
/// so rows collected under another filter are never mistaken for a complete set.
fn expected_records(s: &PatchState, filter: &[String]) -> i64 {
    let by_state = [
        ("Installed", s.installed),
        ("InstalledOther", s.installed_other),
        ("InstalledPendingReboot", s.installed_pending_reboot),
        ("InstalledRejected", s.installed_rejected),
        ("Missing", s.missing),
        ("Failed", s.failed),
        ("NotApplicable", s.not_applicable),
    ];
    by_state
        .iter()
        .filter(|(name, _)| filter.is_empty() || filter.iter().any(|f| f == name))
        .map(|(_, n)| i64::from(*n))
        .sum()
}

/// Baselines with their full approval rules, and the default baseline of every operating
/// system the fleet runs as SSM resolves it (once the instances are listed). `None` when the
/// first instance page failed.
async fn collect_baselines(
    ssm: &Client,
    target: &Target,
    opened: Shared<oneshot::Receiver<()>>,
    listed: Shared<oneshot::Receiver<Listed>>,
    conc: usize,
) -> Option<(Vec<patchlake_model::Baseline>, Vec<AwsError>)> {
    opened.await.ok()?;
    let documents = async {
        let req = ssm.describe_patch_baselines().max_results(100);
        let identities: Vec<_> = Listing::new(target, "ssm:DescribePatchBaselines", || {
            pages!(req.clone().into_paginator())
        })
        .try_all()
        .await?
        .iter()
        .flat_map(|p| p.baseline_identities())
        .cloned()
        .collect();
        let docs: Vec<_> = futures::stream::iter(identities)
            .map(|ident| async move {
                let id = ident.baseline_id().unwrap_or_default().to_owned();
                let doc = ssm
                    .get_patch_baseline()
                    .baseline_id(&id)
                    .send()
                    .await
                    .map_err(|e| classify("ssm:GetPatchBaseline", &e));
                (ident, doc)
            })
            .buffer_unordered(conc)
            .collect()
            .await;
        Ok::<_, AwsError>(docs)
    };
    let defaults = async {
        let Ok(listed) = listed.await else {
            return (BTreeSet::new(), Vec::new());
        };
        let systems: Vec<String> = listed.systems.iter().cloned().collect();
        let results: Vec<_> = futures::stream::iter(systems)
            .map(|os| async move {
                ssm.get_default_patch_baseline()
                    .operating_system(aws_sdk_ssm::types::OperatingSystem::from(os.as_str()))
                    .send()
                    .await
                    .map_err(|e| classify("ssm:GetDefaultPatchBaseline", &e))
            })
            .buffer_unordered(conc)
            .collect()
            .await;
        let mut ids = BTreeSet::new();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(o) => ids.extend(o.baseline_id().map(str::to_owned)),
                Err(e) => errors.push(e),
            }
        }
        (ids, errors)
    };
    let (documents, (defaults, mut errors)) = futures::join!(documents, defaults);
    let mut baselines = Vec::new();
    match documents {
        Ok(docs) => {
            for (ident, doc) in docs {
                match doc {
                    Ok(doc) => {
                        let id = ident.baseline_id().unwrap_or_default();
                        let is_default = ident.default_baseline() || defaults.contains(id);
                        baselines.push(convert::baseline(target, &ident, &doc, is_default));
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        Err(e) => errors.push(e),
    }
    Some((baselines, errors))
}

async fn collect_windows(
    ssm: &Client,
    target: &Target,
    conc: usize,
) -> Result<Vec<patchlake_model::MaintenanceWindow>, AwsError> {
    let req = ssm.describe_maintenance_windows().max_results(PAGE_SIZE);
    let windows: Vec<_> = Listing::new(target, "ssm:DescribeMaintenanceWindows", || {
        pages!(req.clone().into_paginator())
    })
    .try_all()
    .await?
    .iter()
    .flat_map(|p| p.window_identities())
    .cloned()
    .collect();
    futures::stream::iter(windows)
        .map(|w| async move {
            let id = w.window_id().unwrap_or_default().to_owned();
            let mut groups = BTreeSet::new();
            let req = ssm
                .describe_maintenance_window_targets()
                .window_id(&id)
                .max_results(PAGE_SIZE);
            let pages = Listing::new(target, "ssm:DescribeMaintenanceWindowTargets", || {
                pages!(req.clone().into_paginator())
            })
            .try_all()
            .await?;
            for page in &pages {
                for t in page.targets() {
                    for sel in t.targets() {
                        let key = sel.key().unwrap_or_default();
                        if key == "tag:Patch Group" || key == "tag:PatchGroup" {
                            groups.extend(sel.values().iter().cloned());
                        }
                    }
                }
            }
            Ok(convert::maintenance_window(
                target,
                &w,
                groups.into_iter().collect(),
            ))
        })
        .buffer_unordered(conc)
        .try_collect()
        .await
}
