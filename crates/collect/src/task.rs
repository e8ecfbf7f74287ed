//! Collection of one account-region.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{PatchOrchestratorFilter, ResourceTypeForTagging, ResultAttribute};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use patchlake_assume::{AwsError, CallStats, ClientFactory, ErrorKind, RoleAssumer, classify};
use patchlake_config::Config;
use patchlake_model::{Coverage, CoverageStatus, Instance, InstancePatch, PatchState, TaskOutput};

use crate::convert;
use crate::{Prior, Target};

/// DescribeInstancePatchStates accepts at most this many instance ids per call.
pub const PATCH_STATE_BATCH: usize = 50;
/// The largest page SSM's Describe* calls return for instances and patches.
pub const PAGE_SIZE: i32 = 50;

type Tags = BTreeMap<String, String>;

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
    let _guard = span.enter();

    let mut skipped = None;
    let result = match assumer.credentials_for(&target.account_id).await {
        Err(e) => Err((e.code().to_owned(), e.to_string())),
        Ok(identity) => {
            let ssm = factory.ssm(&target.account_id, &target.region, identity.clone(), &stats);
            let mut problems = Problems::default();
            match collect_with(&ssm, config, target, prior, &mut out, &mut problems).await {
                Err(e) if e.code == "UnrecognizedClientException" && out.instances.is_empty() => {
                    // SSM does not know the session in a region the account has not enabled;
                    // ask the account which it is before calling it a failure.
                    skipped = disabled_region(factory, identity, &stats, target).await;
                    Err((e.code.clone(), describe(target, &e)))
                }
                Err(e) => Err((e.code.clone(), describe(target, &e))),
                Ok(()) => Ok(problems),
            }
        }
    };
    drop(_guard);

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
async fn collect_with(
    ssm: &Client,
    config: &Config,
    target: &Target,
    prior: Option<Prior>,
    out: &mut TaskOutput,
    problems: &mut Problems,
) -> Result<(), AwsError> {
    let conc = config.collect.per_region_concurrency;

    // Managed instances.
    let mut pages = ssm
        .describe_instance_information()
        .max_results(PAGE_SIZE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ssm:DescribeInstanceInformation", &e))?;
        for info in page.instance_information_list() {
            if let Some(i) = convert::instance(target, info) {
                out.instances.push(i);
            }
        }
    }
    let ids: Vec<String> = out
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();

    // Patch states, 50 ids per call.
    // Collected first: a stream over a borrowing `map` closure makes the future's `Send`
    // bound higher-ranked, which callers that box it (the Lambda handlers) cannot prove.
    let batches: Vec<Vec<String>> = ids
        .chunks(PATCH_STATE_BATCH)
        .map(<[String]>::to_vec)
        .collect();
    let state_results: Vec<Result<Vec<PatchState>, AwsError>> = futures::stream::iter(batches)
        .map(|chunk| async move {
            let pages: Vec<_> = ssm
                .describe_instance_patch_states()
                .set_instance_ids(Some(chunk))
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify("ssm:DescribeInstancePatchStates", &e))?;
            Ok(pages
                .iter()
                .flat_map(|p| p.instance_patch_states())
                .map(|s| convert::patch_state(target, s))
                .collect())
        })
        .buffer_unordered(conc)
        .collect()
        .await;
    for r in state_results {
        match r {
            Ok(states) => out.patch_states.extend(states),
            Err(e) => problems.record(target, e),
        }
    }

    // Patch groups: from the patch state when there is one, else from the instance's tags.
    let group_of: BTreeMap<&str, &str> = out
        .patch_states
        .iter()
        .filter_map(|s| Some((s.instance_id.as_str(), s.patch_group.as_deref()?)))
        .collect();
    let untagged: Vec<String> = out
        .instances
        .iter()
        .filter(|i| !group_of.contains_key(i.instance_id.as_str()))
        .map(|i| i.instance_id.clone())
        .collect();
    let mut groups: BTreeMap<String, String> = group_of
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Tags: one ListTagsForResource per instance without a patch state, or GetInventory
    // AWS:Tag for 50 instances per call, whichever takes fewer calls. Instances the tag
    // inventory does not cover still get ListTagsForResource.
    let mut tags_of = BTreeMap::new();
    let mut untagged = untagged;
    let inventory_calls = out.instances.len().div_ceil(PAGE_SIZE as usize);
    if inventory_calls < untagged.len() {
        match inventory(ssm, "AWS:Tag").await {
            Ok(entities) => {
                for (id, content) in entities {
                    let tags: Tags = content
                        .iter()
                        .filter_map(|e| Some((e.get("Key")?.clone(), e.get("Value")?.clone())))
                        .collect();
                    if let Some(g) = convert::patch_group_from_tags(&tags)
                        && !group_of.contains_key(id.as_str())
                    {
                        groups.insert(id.clone(), g.to_owned());
                    }
                    tags_of.insert(id, tags);
                }
                untagged.retain(|id| !tags_of.contains_key(id));
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
                .map(|o| {
                    o.tag_list()
                        .iter()
                        .map(|t| (t.key().to_owned(), t.value().to_owned()))
                        .collect()
                })
                .map_err(|e| classify("ssm:ListTagsForResource", &e));
            (id, r)
        })
        .buffer_unordered(conc)
        .collect()
        .await;
    for (id, r) in tag_results {
        match r {
            Ok(tags) => {
                if let Some(g) = convert::patch_group_from_tags(&tags) {
                    groups.insert(id.clone(), g.to_owned());
                }
                tags_of.insert(id, tags);
            }
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => problems.record(target, e),
        }
    }
    for i in &mut out.instances {
        i.patch_group = groups.get(&i.instance_id).cloned();
        if let Some(t) = tags_of.remove(&i.instance_id) {
            i.tags = t;
        }
    }

    // Per-instance patches, for instances that reported a patch state.
    let states_filter = config.collect.patch_states.clone();
    // Unchanged since the previous run: reuse its rows instead of paging them again.
    let mut prior = prior.unwrap_or_default();
    let mut with_state = Vec::new();
    for state in &out.patch_states {
        let reusable = prior
            .states
            .get(&state.instance_id)
            .is_some_and(|old| unchanged(old, state))
            && prior.patches.get(&state.instance_id).is_some_and(|rows| {
                rows.len() as i64 == expected_records(state, &config.collect.patch_states)
            });
        match reusable {
            true => {
                let rows = prior.patches.remove(&state.instance_id).unwrap_or_default();
                out.instance_patches.extend(rows.into_iter().map(|mut r| {
                    r.account_id = target.account_id.clone();
                    r.region = target.region.clone();
                    r
                }));
            }
            false => with_state.push(state.instance_id.clone()),
        }
    }
    drop(prior);
    let patch_results: Vec<Result<Vec<InstancePatch>, AwsError>> =
        futures::stream::iter(with_state)
            .map(|id| {
                let states_filter = states_filter.clone();
                async move {
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
                    let mut rows = Vec::new();
                    let mut pages = req.into_paginator().send();
                    while let Some(page) = pages.next().await {
                        match page {
                            Ok(p) => rows.extend(
                                p.patches()
                                    .iter()
                                    .map(|d| convert::instance_patch(target, &id, d)),
                            ),
                            Err(e) => {
                                let e = classify("ssm:DescribeInstancePatches", &e);
                                // An instance deregistered since it was listed is gone, not
                                // a failure.
                                if e.kind == ErrorKind::NotFound {
                                    return Ok(Vec::new());
                                }
                                return Err(e);
                            }
                        }
                    }
                    Ok(rows)
                }
            })
            .buffer_unordered(conc)
            .collect()
            .await;
    for r in patch_results {
        match r {
            Ok(rows) => out.instance_patches.extend(rows),
            Err(e) => problems.record(target, e),
        }
    }

    // Baselines, with their full approval rules.
    match collect_baselines(ssm, target, &out.instances, conc, problems).await {
        Ok(b) => out.baselines = b,
        Err(e) => problems.record(target, e),
    }

    // Patch-group registrations.
    let mut pages = ssm
        .describe_patch_groups()
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => out.patch_groups.extend(
                p.mappings()
                    .iter()
                    .filter_map(|m| convert::patch_group(target, m)),
            ),
            Err(e) => {
                problems.record(target, classify("ssm:DescribePatchGroups", &e));
                break;
            }
        }
    }

    // Maintenance windows and the patch groups their targets select.
    match collect_windows(ssm, target, conc).await {
        Ok(w) => out.maintenance_windows = w,
        Err(e) => problems.record(target, e),
    }

    // Installed applications: GetInventory returns 50 instances with all their entries per
    // call, where ListInventoryEntries takes one call per instance (and more for long lists).
    if config.collect.inventory_applications && !out.instances.is_empty() {
        match inventory(ssm, "AWS:Application").await {
            Ok(entities) => {
                for (id, content) in entities {
                    out.inventory_applications.extend(
                        content
                            .iter()
                            .filter_map(|e| convert::inventory_application(target, &id, e)),
                    );
                }
            }
            Err(e) => problems.record(target, e),
        }
    }
    Ok(())
}

type InventoryContent = Vec<std::collections::HashMap<String, String>>;

/// Every entity's content of one inventory type, through GetInventory at 50 entities a page.
async fn inventory(
    ssm: &Client,
    type_name: &str,
) -> Result<Vec<(String, InventoryContent)>, AwsError> {
    let mut out = Vec::new();
    let mut pages = ssm
        .get_inventory()
        .result_attributes(
            ResultAttribute::builder()
                .type_name(type_name)
                .build()
                .expect("type_name is set"),
        )
        .max_results(PAGE_SIZE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ssm:GetInventory", &e))?;
        for entity in page.entities() {
            let Some(id) = entity.id() else { continue };
            let content = entity
                .data()
                .and_then(|d| d.get(type_name))
                .map(|item| item.content().to_vec())
                .unwrap_or_default();
            out.push((id.to_owned(), content));
        }
    }
    Ok(out)
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

async fn collect_baselines(
    ssm: &Client,
    target: &Target,
    instances: &[Instance],
    conc: usize,
    problems: &mut Problems,
) -> Result<Vec<patchlake_model::Baseline>, AwsError> {
    let mut identities = Vec::new();
    let mut pages = ssm
        .describe_patch_baselines()
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ssm:DescribePatchBaselines", &e))?;
        identities.extend(page.baseline_identities().iter().cloned());
    }
    // The default baseline of every operating system the fleet runs, as SSM resolves it.
    let systems: BTreeSet<&str> = instances
        .iter()
        .filter_map(|i| i.operating_system.as_deref())
        .collect();
    let mut defaults = BTreeSet::new();
    for os in systems {
        match ssm
            .get_default_patch_baseline()
            .operating_system(aws_sdk_ssm::types::OperatingSystem::from(os))
            .send()
            .await
        {
            Ok(o) => {
                if let Some(id) = o.baseline_id() {
                    defaults.insert(id.to_owned());
                }
            }
            Err(e) => problems.record(target, classify("ssm:GetDefaultPatchBaseline", &e)),
        }
    }
    let defaults = &defaults;
    let results: Vec<Result<patchlake_model::Baseline, AwsError>> =
        futures::stream::iter(identities)
            .map(|ident| async move {
                let id = ident.baseline_id().unwrap_or_default().to_owned();
                let doc = ssm
                    .get_patch_baseline()
                    .baseline_id(&id)
                    .send()
                    .await
                    .map_err(|e| classify("ssm:GetPatchBaseline", &e))?;
                let is_default = ident.default_baseline() || defaults.contains(&id);
                Ok(convert::baseline(target, &ident, &doc, is_default))
            })
            .buffer_unordered(conc)
            .collect()
            .await;
    let mut baselines = Vec::new();
    for r in results {
        match r {
            Ok(b) => baselines.push(b),
            Err(e) => problems.record(target, e),
        }
    }
    Ok(baselines)
}

async fn collect_windows(
    ssm: &Client,
    target: &Target,
    conc: usize,
) -> Result<Vec<patchlake_model::MaintenanceWindow>, AwsError> {
    let mut windows = Vec::new();
    let mut pages = ssm
        .describe_maintenance_windows()
        .max_results(PAGE_SIZE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ssm:DescribeMaintenanceWindows", &e))?;
        windows.extend(page.window_identities().iter().cloned());
    }
    futures::stream::iter(windows)
        .map(|w| async move {
            let id = w.window_id().unwrap_or_default().to_owned();
            let mut groups = BTreeSet::new();
            let mut pages = ssm
                .describe_maintenance_window_targets()
                .window_id(&id)
                .max_results(PAGE_SIZE)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| classify("ssm:DescribeMaintenanceWindowTargets", &e))?;
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
