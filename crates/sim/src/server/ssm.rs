//! SSM over awsJson1_1.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::auth::{Session, credential_scope};
use super::wire::{self, ApiError, epoch};
use super::{AppState, malformed, max_results, parse_json};
use crate::fleet::{
    AccountRegion, Baseline, BaselineOwner, Instance, OperatingSystem, PatchComplianceState,
    PatchFilter,
};

const OPERATIONS: [&str; 14] = [
    "DescribeInstanceInformation",
    "DescribeInstancePatchStates",
    "DescribeInstancePatchStatesForPatchGroup",
    "DescribeInstancePatches",
    "DescribePatchBaselines",
    "GetPatchBaseline",
    "DescribePatchGroups",
    "GetDefaultPatchBaseline",
    "GetPatchBaselineForPatchGroup",
    "ListTagsForResource",
    "DescribeMaintenanceWindows",
    "DescribeMaintenanceWindowTargets",
    "ListInventoryEntries",
    "GetInventory",
];

struct Ctx<'a> {
    state: &'a AppState,
    session: Arc<Session>,
    ar: &'a AccountRegion,
}

impl Ctx<'_> {
    /// Pagination context: operation, caller scope and the request's non-paging parameters.
    fn page_context(&self, op: &str, params: &str) -> String {
        format!("{op}|{}|{}|{params}", self.ar.account_id, self.ar.region)
    }
}

fn authenticate<'a>(state: &'a AppState, headers: &HeaderMap) -> Result<Ctx<'a>, ApiError> {
    let scope = credential_scope(headers).ok_or_else(ApiError::missing_auth)?;
    let session = state
        .sessions
        .get(&scope.access_key_id)
        .ok_or_else(ApiError::unrecognized_client)?;
    if session.expires <= Utc::now() {
        return Err(ApiError::expired_token());
    }
    // A region outside the spec, or an opt-in region the account has not enabled, does not
    // know the caller's credentials (AWS answers UnrecognizedClientException there too).
    if !state
        .fleet
        .region_enabled(&session.account_id, &scope.region)
    {
        return Err(ApiError::unrecognized_client());
    }
    let ar = state
        .fleet
        .account_region(&session.account_id, &scope.region)
        .ok_or_else(ApiError::unrecognized_client)?;
    Ok(Ctx { state, session, ar })
}

pub(super) fn handle(
    state: &AppState,
    op: &str,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
) -> Response {
    let ctx = match authenticate(state, headers) {
        Ok(ctx) => ctx,
        Err(e) => {
            state.stats.record(op, None, Some(e.code));
            return wire::json_error(&e, request_id);
        }
    };
    let scope = Some((ctx.ar.account_id.as_str(), ctx.ar.region.as_str()));
    match run(&ctx, op, body) {
        Ok(bytes) => match state.faults.roll_malformed() {
            None => {
                state.stats.record(op, scope, None);
                wire::json_bytes(bytes, request_id)
            }
            Some(kind) => {
                state.stats.record(op, scope, Some(malformed::CODE));
                tracing::debug!(account_id = %ctx.ar.account_id, region = %ctx.ar.region, op,
                    kind = kind.as_str(), "malformed response injected");
                malformed::response(kind, bytes, &state.faults, request_id)
            }
        },
        Err(e) => {
            state.stats.record(op, scope, Some(e.code));
            tracing::debug!(account_id = %ctx.ar.account_id, region = %ctx.ar.region, op, code = e.code, "ssm error");
            wire::json_error(&e, request_id)
        }
    }
}

fn run(ctx: &Ctx<'_>, op: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    if !OPERATIONS.contains(&op) {
        return Err(ApiError::bad_request(
            "UnknownOperationException",
            format!("Unknown operation {op}"),
        ));
    }
    let faults = &ctx.state.faults;
    if faults.ssm_denied(&ctx.ar.account_id, &ctx.ar.region) {
        return Err(ApiError::bad_request(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: ssm:{op} on resource: arn:aws:ssm:{}:{}:* because no identity-based policy allows the ssm:{op} action",
                ctx.session.arn(),
                ctx.ar.region,
                ctx.ar.account_id
            ),
        ));
    }
    if !faults.try_acquire(&ctx.ar.account_id, &ctx.ar.region) {
        return Err(ApiError::throttling());
    }
    if faults.roll_server_error() {
        return Err(ApiError::internal());
    }
    if has_next_token(body) && faults.roll_bad_token() {
        return Err(ApiError::bad_request(
            "InvalidNextToken",
            "The specified token has expired.",
        ));
    }
    match op {
        "DescribeInstanceInformation" => describe_instance_information(ctx, parse_json(body)?),
        "DescribeInstancePatchStates" => describe_instance_patch_states(ctx, parse_json(body)?),
        "DescribeInstancePatchStatesForPatchGroup" => {
            describe_instance_patch_states_for_patch_group(ctx, parse_json(body)?)
        }
        "DescribeInstancePatches" => describe_instance_patches(ctx, parse_json(body)?),
        "DescribePatchBaselines" => describe_patch_baselines(ctx, parse_json(body)?),
        "GetPatchBaseline" => get_patch_baseline(ctx, parse_json(body)?),
        "DescribePatchGroups" => describe_patch_groups(ctx, parse_json(body)?),
        "GetDefaultPatchBaseline" => get_default_patch_baseline(ctx, parse_json(body)?),
        "GetPatchBaselineForPatchGroup" => {
            get_patch_baseline_for_patch_group(ctx, parse_json(body)?)
        }
        "ListTagsForResource" => list_tags_for_resource(ctx, parse_json(body)?),
        "DescribeMaintenanceWindows" => describe_maintenance_windows(ctx, parse_json(body)?),
        "DescribeMaintenanceWindowTargets" => {
            describe_maintenance_window_targets(ctx, parse_json(body)?)
        }
        "ListInventoryEntries" => list_inventory_entries(ctx, parse_json(body)?),
        "GetInventory" => get_inventory(ctx, parse_json(body)?),
        _ => Err(ApiError::bad_request(
            "UnknownOperationException",
            format!("Unknown operation {op}"),
        )),
    }
}

/// Whether the request continues a listing (a non-empty NextToken).
fn has_next_token(body: &[u8]) -> bool {
    #[derive(Deserialize, Default)]
    struct Paged {
        #[serde(rename = "NextToken")]
        next_token: Option<String>,
    }
    parse_json::<Paged>(body).is_ok_and(|p| p.next_token.is_some_and(|t| !t.is_empty()))
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|_| ApiError::internal())
}

fn required<'a>(value: &'a Option<String>, member: &str) -> Result<&'a str, ApiError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        Some(v) => Err(ApiError::constraint(
            v,
            member,
            "Member must have length greater than or equal to 1",
        )),
        None => Err(ApiError::bad_request(
            "ValidationException",
            format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ),
        )),
    }
}

const INSTANCE_ID_PATTERN: &str = "(^i-(\\w{8}|\\w{17})$)|(^mi-\\w{17}$)";

fn valid_instance_id(id: &str) -> bool {
    let word = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match id.split_once('-') {
        Some(("i", rest)) => (rest.len() == 8 || rest.len() == 17) && word(rest),
        Some(("mi", rest)) => rest.len() == 17 && word(rest),
        _ => false,
    }
}

fn check_instance_id(id: &str, member: &str) -> Result<(), ApiError> {
    if valid_instance_id(id) {
        Ok(())
    } else {
        Err(ApiError::constraint(
            id,
            member,
            &format!("Member must satisfy regular expression pattern: {INSTANCE_ID_PATTERN}"),
        ))
    }
}

fn lookup_instance<'a>(ctx: &Ctx<'a>, id: &str) -> Result<&'a Instance, ApiError> {
    ctx.ar.instance(id).ok_or_else(|| {
        ApiError::bad_request(
            "InvalidInstanceId",
            format!("Instance Id {id} is not valid or does not exist in this account and region."),
        )
    })
}

/// `{Key, Values}` filter as most SSM list operations take it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct KeyValues {
    key: String,
    values: Vec<String>,
}

fn filters_context(filters: &[KeyValues]) -> String {
    let mut s = String::new();
    for f in filters {
        s.push_str(&f.key);
        s.push('=');
        s.push_str(&f.values.join("\u{1f}"));
        s.push('\u{1e}');
    }
    s
}

// ---------------------------------------------------------------------------------------------
// DescribeInstanceInformation

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DescribeInstanceInformationIn {
    instance_information_filter_list: Vec<InstanceInformationFilter>,
    filters: Vec<KeyValues>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InstanceInformationFilter {
    key: String,
    #[serde(rename = "valueSet")]
    value_set: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssociationOverview {
    detailed_status: &'static str,
    instance_association_status_aggregated_count: BTreeMap<&'static str, i32>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InstanceInformationOut<'a> {
    instance_id: &'a str,
    ping_status: &'static str,
    last_ping_date_time: f64,
    agent_version: &'static str,
    is_latest_version: bool,
    platform_type: &'static str,
    platform_name: &'static str,
    platform_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    activation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iam_role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_date: Option<f64>,
    resource_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(rename = "IPAddress")]
    ip_address: &'a str,
    computer_name: &'a str,
    association_status: &'static str,
    last_association_execution_date: f64,
    last_successful_association_execution_date: f64,
    association_overview: AssociationOverview,
    source_id: &'a str,
    source_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInstanceInformationOut<'a> {
    instance_information_list: Vec<InstanceInformationOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn instance_matches(instance: &Instance, key: &str, values: &[String]) -> Result<bool, ApiError> {
    let any = |v: &str| values.iter().any(|x| x == v);
    Ok(match key {
        "InstanceIds" => any(&instance.instance_id),
        "PingStatus" => any(instance.ping_status.as_str()),
        "PlatformTypes" => any(instance.platform.platform_type()),
        "ResourceType" => any(instance.resource_type.as_str()),
        "AgentVersion" => any(instance.agent_version),
        "AssociationStatus" => any("Success"),
        "ActivationIds" => instance.activation_id.as_deref().is_some_and(any),
        "IamRole" => instance.activation_id.is_some() && any("SSMServiceRole"),
        "tag-key" => instance
            .tags()
            .iter()
            .any(|(k, _)| values.iter().any(|v| v == k)),
        _ => match key.strip_prefix("tag:") {
            Some(tag) => instance
                .tags()
                .iter()
                .any(|(k, v)| *k == tag && values.iter().any(|x| x == v)),
            None => {
                return Err(ApiError::bad_request(
                    "InvalidFilterKey",
                    format!("The filter key {key} is not valid."),
                ));
            }
        },
    })
}

fn describe_instance_information(
    ctx: &Ctx<'_>,
    input: DescribeInstanceInformationIn,
) -> Result<Vec<u8>, ApiError> {
    let max = max_results(input.max_results, 5, 50, 50)?;
    let mut filters: Vec<(&str, &[String])> = Vec::new();
    for f in &input.instance_information_filter_list {
        filters.push((f.key.as_str(), f.value_set.as_slice()));
    }
    for f in &input.filters {
        filters.push((f.key.as_str(), f.values.as_slice()));
    }
    for (_, values) in &filters {
        if values.is_empty() {
            return Err(ApiError::bad_request(
                "InvalidInstanceInformationFilterValue",
                "Filter values must not be empty.",
            ));
        }
    }
    let mut selected: Vec<&Instance> = Vec::with_capacity(ctx.ar.instances.len());
    for instance in &ctx.ar.instances {
        let mut keep = true;
        for (key, values) in &filters {
            if !instance_matches(instance, key, values)? {
                keep = false;
                break;
            }
        }
        if keep {
            selected.push(instance);
        }
    }
    let mut params = String::new();
    for (k, v) in &filters {
        params.push_str(k);
        params.push('=');
        params.push_str(&v.join("\u{1f}"));
        params.push('\u{1e}');
    }
    let context = ctx.page_context("DescribeInstanceInformation", &params);
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &selected, input.next_token.as_deref(), max)?;
    let list = page
        .iter()
        .map(|i| {
            let hybrid = i.activation_id.is_some();
            InstanceInformationOut {
                instance_id: &i.instance_id,
                ping_status: i.ping_status.as_str(),
                last_ping_date_time: epoch(i.last_ping),
                agent_version: i.agent_version,
                is_latest_version: i.is_latest_version,
                platform_type: i.platform.platform_type(),
                platform_name: i.platform.platform_name(),
                platform_version: i.platform.platform_version(),
                activation_id: i.activation_id.as_deref(),
                iam_role: hybrid.then_some("SSMServiceRole"),
                registration_date: i.registration_date.map(epoch),
                resource_type: i.resource_type.as_str(),
                name: hybrid.then_some(i.name_tag.as_str()),
                ip_address: &i.ip_address,
                computer_name: &i.computer_name,
                association_status: "Success",
                last_association_execution_date: epoch(i.last_ping),
                last_successful_association_execution_date: epoch(i.last_ping),
                association_overview: AssociationOverview {
                    detailed_status: "Success",
                    instance_association_status_aggregated_count: BTreeMap::from([("Success", 1)]),
                },
                source_id: &i.instance_id,
                source_type: if hybrid {
                    "AWS::SSM::ManagedInstance"
                } else {
                    "AWS::EC2::Instance"
                },
            }
        })
        .collect();
    to_json(&DescribeInstanceInformationOut {
        instance_information_list: list,
        next_token,
    })
}

// ---------------------------------------------------------------------------------------------
// DescribeInstancePatchStates / ForPatchGroup

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DescribeInstancePatchStatesIn {
    instance_ids: Option<Vec<String>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InstancePatchStateOut<'a> {
    instance_id: &'a str,
    patch_group: &'a str,
    baseline_id: &'a str,
    snapshot_id: &'a str,
    installed_count: u32,
    installed_other_count: u32,
    installed_pending_reboot_count: u32,
    installed_rejected_count: u32,
    missing_count: u32,
    failed_count: u32,
    unreported_not_applicable_count: u32,
    not_applicable_count: u32,
    available_security_update_count: u32,
    operation_start_time: f64,
    operation_end_time: f64,
    operation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_no_reboot_install_operation_time: Option<f64>,
    reboot_option: &'static str,
    critical_non_compliant_count: u32,
    security_non_compliant_count: u32,
    other_non_compliant_count: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InstancePatchStatesOut<'a> {
    instance_patch_states: Vec<InstancePatchStateOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn patch_state_out<'a>(
    ar: &'a AccountRegion,
    i: &'a Instance,
) -> Option<InstancePatchStateOut<'a>> {
    let s = i.patch_state.as_ref()?;
    let c = &s.counts;
    Some(InstancePatchStateOut {
        instance_id: &i.instance_id,
        // Untagged instances report an empty patch group, as the agent does.
        patch_group: i.patch_group.unwrap_or(""),
        baseline_id: ar.baseline_id(s.baseline),
        snapshot_id: &s.snapshot_id,
        installed_count: c.installed,
        installed_other_count: c.installed_other,
        installed_pending_reboot_count: c.installed_pending_reboot,
        installed_rejected_count: c.installed_rejected,
        missing_count: c.missing,
        failed_count: c.failed,
        unreported_not_applicable_count: c.unreported_not_applicable,
        not_applicable_count: c.not_applicable,
        available_security_update_count: 0,
        operation_start_time: epoch(s.operation_start),
        operation_end_time: epoch(s.operation_end),
        operation: s.operation.as_str(),
        last_no_reboot_install_operation_time: s.last_no_reboot_install_operation_time.map(epoch),
        reboot_option: s.reboot_option.as_str(),
        critical_non_compliant_count: s.critical_non_compliant,
        security_non_compliant_count: s.security_non_compliant,
        other_non_compliant_count: s.other_non_compliant,
    })
}

fn describe_instance_patch_states(
    ctx: &Ctx<'_>,
    input: DescribeInstancePatchStatesIn,
) -> Result<Vec<u8>, ApiError> {
    let ids = input.instance_ids.ok_or_else(|| {
        ApiError::bad_request(
            "ValidationException",
            "1 validation error detected: Value null at 'instanceIds' failed to satisfy constraint: Member must not be null",
        )
    })?;
    if ids.is_empty() || ids.len() > 50 {
        let bound = if ids.is_empty() {
            "Member must have length greater than or equal to 1"
        } else {
            "Member must have length less than or equal to 50"
        };
        return Err(ApiError::constraint(
            format!("[{}]", ids.join(", ")),
            "instanceIds",
            bound,
        ));
    }
    for id in &ids {
        check_instance_id(id, "instanceIds")?;
    }
    let max = max_results(input.max_results, 10, 100, 50)?;
    let mut seen = std::collections::BTreeSet::new();
    let states: Vec<InstancePatchStateOut<'_>> = ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .filter_map(|id| ctx.ar.instance(id))
        .filter_map(|i| patch_state_out(ctx.ar, i))
        .collect();
    let context = ctx.page_context("DescribeInstancePatchStates", &ids.join(","));
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &states, input.next_token.as_deref(), max)?;
    // Pages borrow from `states`; serialise the slice directly.
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a, 'b> {
        instance_patch_states: &'b [InstancePatchStateOut<'a>],
        #[serde(skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    to_json(&Out {
        instance_patch_states: page,
        next_token,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ForPatchGroupIn {
    patch_group: Option<String>,
    filters: Vec<KeyValues>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn describe_instance_patch_states_for_patch_group(
    ctx: &Ctx<'_>,
    input: ForPatchGroupIn,
) -> Result<Vec<u8>, ApiError> {
    let group = required(&input.patch_group, "patchGroup")?;
    let max = max_results(input.max_results, 10, 100, 50)?;
    if let Some(f) = input.filters.first() {
        return Err(ApiError::bad_request(
            "InvalidFilter",
            format!("Filter {} is not supported by the simulator.", f.key),
        ));
    }
    let ids: Vec<&Instance> = ctx
        .ar
        .instances
        .iter()
        .filter(|i| i.patch_group == Some(group) && i.patch_state.is_some())
        .collect();
    let context = ctx.page_context("DescribeInstancePatchStatesForPatchGroup", group);
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &ids, input.next_token.as_deref(), max)?;
    to_json(&InstancePatchStatesOut {
        instance_patch_states: page
            .iter()
            .filter_map(|i| patch_state_out(ctx.ar, i))
            .collect(),
        next_token,
    })
}

// ---------------------------------------------------------------------------------------------
// DescribeInstancePatches

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DescribeInstancePatchesIn {
    instance_id: Option<String>,
    filters: Vec<KeyValues>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PatchOut<'a> {
    title: &'a str,
    #[serde(rename = "KBId")]
    kb_id: &'a str,
    classification: &'a str,
    severity: &'a str,
    state: &'static str,
    installed_time: i64,
    #[serde(rename = "CVEIds", skip_serializing_if = "str::is_empty")]
    cve_ids: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInstancePatchesOut<'a> {
    patches: Vec<PatchOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn describe_instance_patches(
    ctx: &Ctx<'_>,
    input: DescribeInstancePatchesIn,
) -> Result<Vec<u8>, ApiError> {
    let id = required(&input.instance_id, "instanceId")?;
    check_instance_id(id, "instanceId")?;
    let max = max_results(input.max_results, 10, 50, 50)?;
    let mut states: Option<Vec<PatchComplianceState>> = None;
    for f in &input.filters {
        match f.key.as_str() {
            "State" => {
                let parsed = f
                    .values
                    .iter()
                    .map(|v| {
                        PatchComplianceState::parse(v).ok_or_else(|| {
                            ApiError::bad_request(
                                "InvalidFilter",
                                format!("The filter value {v} is not valid for key State."),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                states = Some(parsed);
            }
            "Classification" | "Severity" | "KBId" | "PackageName" => {}
            other => {
                return Err(ApiError::bad_request(
                    "InvalidFilter",
                    format!("The filter key {other} is not valid."),
                ));
            }
        }
    }
    let instance = lookup_instance(ctx, id)?;
    let records = ctx.state.fleet.patch_record_refs(ctx.ar, instance);
    let value_filter = |key: &str| input.filters.iter().find(|f| f.key == key);
    let classification = value_filter("Classification");
    let severity = value_filter("Severity");
    let kb = value_filter("KBId");
    let package = value_filter("PackageName");
    let selected: Vec<_> = records
        .iter()
        .filter(|r| states.as_ref().is_none_or(|s| s.contains(&r.state)))
        .filter(|r| {
            classification.is_none_or(|f| f.values.iter().any(|v| v == r.patch.classification))
        })
        .filter(|r| severity.is_none_or(|f| f.values.iter().any(|v| v == r.patch.severity)))
        .filter(|r| kb.is_none_or(|f| f.values.contains(&r.patch.kb_id)))
        .filter(|r| package.is_none_or(|f| f.values.contains(&r.patch.package)))
        .collect();
    let context = ctx.page_context(
        "DescribeInstancePatches",
        &format!("{id}|{}", filters_context(&input.filters)),
    );
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &selected, input.next_token.as_deref(), max)?;
    to_json(&DescribeInstancePatchesOut {
        patches: page
            .iter()
            .map(|r| PatchOut {
                title: &r.patch.title,
                kb_id: &r.patch.kb_id,
                classification: r.patch.classification,
                severity: r.patch.severity,
                state: r.state.as_str(),
                installed_time: r.installed_time,
                cve_ids: &r.patch.cve_ids,
            })
            .collect(),
        next_token,
    })
}

// ---------------------------------------------------------------------------------------------
// Baselines and patch groups

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BaselineIdentityOut<'a> {
    baseline_id: &'a str,
    baseline_name: &'a str,
    operating_system: &'static str,
    baseline_description: &'a str,
    default_baseline: bool,
}

fn identity<'a>(ar: &'a AccountRegion, index: usize) -> BaselineIdentityOut<'a> {
    let b = &ar.baselines[index];
    BaselineIdentityOut {
        baseline_id: &b.id,
        baseline_name: &b.name,
        operating_system: b.operating_system.as_str(),
        baseline_description: &b.description,
        default_baseline: ar.default_baseline(b.operating_system) == index,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListIn {
    filters: Vec<KeyValues>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn parse_os(value: &str) -> Result<OperatingSystem, ApiError> {
    OperatingSystem::parse(value).ok_or_else(|| {
        ApiError::constraint(
            value,
            "operatingSystem",
            "Member must satisfy enum value set: [WINDOWS, AMAZON_LINUX, AMAZON_LINUX_2, AMAZON_LINUX_2023, UBUNTU, REDHAT_ENTERPRISE_LINUX, SUSE, CENTOS, ORACLE_LINUX, DEBIAN, MACOS, RASPBIAN, ROCKY_LINUX, ALMA_LINUX]",
        )
    })
}

fn baseline_matches(b: &Baseline, filters: &[KeyValues]) -> Result<bool, ApiError> {
    for f in filters {
        let ok = match f.key.as_str() {
            "NAME_PREFIX" => f.values.iter().any(|v| b.name.starts_with(v.as_str())),
            "OWNER" => f.values.iter().any(|v| match v.as_str() {
                "AWS" => b.owner == BaselineOwner::Aws,
                "Self" => b.owner == BaselineOwner::Custom,
                "All" => true,
                _ => false,
            }),
            "OPERATING_SYSTEM" => f.values.iter().any(|v| v == b.operating_system.as_str()),
            other => {
                return Err(ApiError::bad_request(
                    "ValidationException",
                    format!("Filter key {other} is not supported for patch baselines."),
                ));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn describe_patch_baselines(ctx: &Ctx<'_>, input: ListIn) -> Result<Vec<u8>, ApiError> {
    let max = max_results(input.max_results, 1, 100, 100)?;
    let mut selected = Vec::new();
    for (i, b) in ctx.ar.baselines.iter().enumerate() {
        if baseline_matches(b, &input.filters)? {
            selected.push(i);
        }
    }
    let context = ctx.page_context("DescribePatchBaselines", &filters_context(&input.filters));
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &selected, input.next_token.as_deref(), max)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        baseline_identities: Vec<BaselineIdentityOut<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    to_json(&Out {
        baseline_identities: page.iter().map(|&i| identity(ctx.ar, i)).collect(),
        next_token,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct BaselineIdIn {
    baseline_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PatchFilterOut<'a> {
    key: &'a str,
    values: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PatchFilterGroupOut<'a> {
    patch_filters: Vec<PatchFilterOut<'a>>,
}

fn filter_group(filters: &[PatchFilter]) -> PatchFilterGroupOut<'_> {
    PatchFilterGroupOut {
        patch_filters: filters
            .iter()
            .map(|f| PatchFilterOut {
                key: &f.key,
                values: &f.values,
            })
            .collect(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PatchRuleOut<'a> {
    patch_filter_group: PatchFilterGroupOut<'a>,
    compliance_level: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    approve_after_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approve_until_date: Option<&'a str>,
    enable_non_security: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RuleGroupOut<'a> {
    patch_rules: Vec<PatchRuleOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetPatchBaselineOut<'a> {
    baseline_id: &'a str,
    name: &'a str,
    operating_system: &'static str,
    global_filters: PatchFilterGroupOut<'a>,
    approval_rules: RuleGroupOut<'a>,
    approved_patches: &'a [String],
    approved_patches_compliance_level: &'static str,
    approved_patches_enable_non_security: bool,
    rejected_patches: &'a [String],
    rejected_patches_action: &'static str,
    patch_groups: &'a [String],
    created_date: f64,
    modified_date: f64,
    description: &'a str,
    sources: [(); 0],
}

fn find_baseline<'a>(ar: &'a AccountRegion, id: &str) -> Result<&'a Baseline, ApiError> {
    if id.len() < 20
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-:/".contains(c))
    {
        return Err(ApiError::constraint(
            id,
            "baselineId",
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-:/]{20,128}$",
        ));
    }
    ar.baseline_by_id(id)
        .or_else(|| {
            // AWS baselines are also addressable by their bare pb- id.
            ar.baselines
                .iter()
                .find(|b| b.owner == BaselineOwner::Aws && b.id.ends_with(&format!("/{id}")))
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "DoesNotExistException",
                format!("Patch Baseline {id} does not exist."),
            )
        })
}

fn get_patch_baseline(ctx: &Ctx<'_>, input: BaselineIdIn) -> Result<Vec<u8>, ApiError> {
    let id = required(&input.baseline_id, "baselineId")?;
    let b = find_baseline(ctx.ar, id)?;
    to_json(&GetPatchBaselineOut {
        baseline_id: &b.id,
        name: &b.name,
        operating_system: b.operating_system.as_str(),
        global_filters: filter_group(&b.global_filters),
        approval_rules: RuleGroupOut {
            patch_rules: b
                .rules
                .iter()
                .map(|r| PatchRuleOut {
                    patch_filter_group: filter_group(&r.filters),
                    compliance_level: r.compliance_level.as_str(),
                    approve_after_days: r.approve_after_days,
                    approve_until_date: r.approve_until_date.as_deref(),
                    enable_non_security: r.enable_non_security,
                })
                .collect(),
        },
        approved_patches: &b.approved_patches,
        approved_patches_compliance_level: b.approved_patches_compliance_level.as_str(),
        approved_patches_enable_non_security: b.approved_patches_enable_non_security,
        rejected_patches: &b.rejected_patches,
        rejected_patches_action: b.rejected_patches_action.as_str(),
        patch_groups: &b.patch_groups,
        created_date: epoch(b.created),
        modified_date: epoch(b.modified),
        description: &b.description,
        sources: [],
    })
}

fn describe_patch_groups(ctx: &Ctx<'_>, input: ListIn) -> Result<Vec<u8>, ApiError> {
    let max = max_results(input.max_results, 1, 100, 100)?;
    let mut selected = Vec::new();
    for r in &ctx.ar.registrations {
        let mut keep = true;
        for f in &input.filters {
            keep &= match f.key.as_str() {
                "NAME_PREFIX" => f
                    .values
                    .iter()
                    .any(|v| r.patch_group.starts_with(v.as_str())),
                "OPERATING_SYSTEM" => f.values.iter().any(|v| v == r.operating_system.as_str()),
                other => {
                    return Err(ApiError::bad_request(
                        "ValidationException",
                        format!("Filter key {other} is not supported for patch groups."),
                    ));
                }
            };
        }
        if keep {
            selected.push(r);
        }
    }
    let context = ctx.page_context("DescribePatchGroups", &filters_context(&input.filters));
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &selected, input.next_token.as_deref(), max)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Mapping<'a> {
        patch_group: &'a str,
        baseline_identity: BaselineIdentityOut<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        mappings: Vec<Mapping<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    to_json(&Out {
        mappings: page
            .iter()
            .map(|r| Mapping {
                patch_group: &r.patch_group,
                baseline_identity: identity(ctx.ar, r.baseline),
            })
            .collect(),
        next_token,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DefaultBaselineIn {
    operating_system: Option<String>,
    patch_group: Option<String>,
}

fn get_default_patch_baseline(
    ctx: &Ctx<'_>,
    input: DefaultBaselineIn,
) -> Result<Vec<u8>, ApiError> {
    let os = parse_os(input.operating_system.as_deref().unwrap_or("WINDOWS"))?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        baseline_id: &'a str,
        operating_system: &'static str,
    }
    to_json(&Out {
        baseline_id: ctx.ar.baseline_id(ctx.ar.default_baseline(os)),
        operating_system: os.as_str(),
    })
}

fn get_patch_baseline_for_patch_group(
    ctx: &Ctx<'_>,
    input: DefaultBaselineIn,
) -> Result<Vec<u8>, ApiError> {
    let group = required(&input.patch_group, "patchGroup")?;
    let os = parse_os(input.operating_system.as_deref().unwrap_or("WINDOWS"))?;
    let index = ctx.ar.effective_baseline(Some(group), os);
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        baseline_id: &'a str,
        patch_group: &'a str,
        operating_system: &'static str,
    }
    to_json(&Out {
        baseline_id: ctx.ar.baseline_id(index),
        patch_group: group,
        operating_system: os.as_str(),
    })
}

// ---------------------------------------------------------------------------------------------
// Tags, maintenance windows, inventory

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListTagsIn {
    resource_type: Option<String>,
    resource_id: Option<String>,
}

fn list_tags_for_resource(ctx: &Ctx<'_>, input: ListTagsIn) -> Result<Vec<u8>, ApiError> {
    let resource_type = required(&input.resource_type, "resourceType")?;
    let resource_id = required(&input.resource_id, "resourceId")?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Tag {
        key: &'static str,
        value: String,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out {
        tag_list: Vec<Tag>,
    }
    let invalid_id = || {
        ApiError::bad_request(
            "InvalidResourceId",
            format!("The resource ID {resource_id} is not valid. Verify the ID and try again."),
        )
    };
    let tags = match resource_type {
        // Real SSM serves tags of hybrid (mi-) nodes here and EC2 tags through EC2; the
        // simulator has no EC2 endpoint, so it answers for both.
        "ManagedInstance" => ctx
            .ar
            .instance(resource_id)
            .ok_or_else(invalid_id)?
            .tags()
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .collect(),
        "PatchBaseline" => {
            ctx.ar.baseline_by_id(resource_id).ok_or_else(invalid_id)?;
            Vec::new()
        }
        "MaintenanceWindow" => {
            ctx.ar
                .maintenance_windows
                .iter()
                .find(|w| w.window_id == resource_id)
                .ok_or_else(invalid_id)?;
            Vec::new()
        }
        "Document" | "Parameter" | "OpsItem" | "OpsMetadata" | "Automation" | "Association" => {
            return Err(invalid_id());
        }
        other => {
            return Err(ApiError::bad_request(
                "InvalidResourceType",
                format!("The resource type {other} is not valid."),
            ));
        }
    };
    to_json(&Out { tag_list: tags })
}

fn describe_maintenance_windows(ctx: &Ctx<'_>, input: ListIn) -> Result<Vec<u8>, ApiError> {
    let max = max_results(input.max_results, 10, 100, 50)?;
    let mut selected = Vec::new();
    for w in &ctx.ar.maintenance_windows {
        let mut keep = true;
        for f in &input.filters {
            keep &= match f.key.as_str() {
                "Name" => f.values.contains(&w.name),
                "Enabled" => f.values.iter().any(|v| *v == w.enabled.to_string()),
                other => {
                    return Err(ApiError::bad_request(
                        "ValidationException",
                        format!("Filter key {other} is not valid."),
                    ));
                }
            };
        }
        if keep {
            selected.push(w);
        }
    }
    let context = ctx.page_context(
        "DescribeMaintenanceWindows",
        &filters_context(&input.filters),
    );
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &selected, input.next_token.as_deref(), max)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Window<'a> {
        window_id: &'a str,
        name: &'a str,
        description: &'a str,
        enabled: bool,
        duration: u32,
        cutoff: u32,
        schedule: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        schedule_timezone: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_execution_time: Option<&'a str>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        window_identities: Vec<Window<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    to_json(&Out {
        window_identities: page
            .iter()
            .map(|w| Window {
                window_id: &w.window_id,
                name: &w.name,
                description: &w.description,
                enabled: w.enabled,
                duration: w.duration,
                cutoff: w.cutoff,
                schedule: &w.schedule,
                schedule_timezone: w.schedule_timezone.as_deref(),
                next_execution_time: w.next_execution_time.as_deref(),
            })
            .collect(),
        next_token,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct WindowTargetsIn {
    window_id: Option<String>,
    filters: Vec<KeyValues>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn describe_maintenance_window_targets(
    ctx: &Ctx<'_>,
    input: WindowTargetsIn,
) -> Result<Vec<u8>, ApiError> {
    let id = required(&input.window_id, "windowId")?;
    let max = max_results(input.max_results, 10, 100, 50)?;
    let window = ctx
        .ar
        .maintenance_windows
        .iter()
        .find(|w| w.window_id == id)
        .ok_or_else(|| {
            ApiError::bad_request(
                "DoesNotExistException",
                format!("Maintenance window {id} does not exist"),
            )
        })?;
    let context = ctx.page_context(
        "DescribeMaintenanceWindowTargets",
        &format!("{id}|{}", filters_context(&input.filters)),
    );
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &window.targets, input.next_token.as_deref(), max)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct TargetOut<'a> {
        key: &'a str,
        values: &'a [String],
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Target<'a> {
        window_id: &'a str,
        window_target_id: &'a str,
        resource_type: &'static str,
        targets: [TargetOut<'a>; 1],
        #[serde(skip_serializing_if = "Option::is_none")]
        owner_information: Option<&'a str>,
        name: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        targets: Vec<Target<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    to_json(&Out {
        targets: page
            .iter()
            .map(|t| Target {
                window_id: &window.window_id,
                window_target_id: &t.window_target_id,
                resource_type: "INSTANCE",
                targets: [TargetOut {
                    key: &t.key,
                    values: &t.values,
                }],
                owner_information: t.owner_information.as_deref(),
                name: &t.name,
            })
            .collect(),
        next_token,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct InventoryIn {
    instance_id: Option<String>,
    type_name: Option<String>,
    filters: Vec<serde_json::Value>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn list_inventory_entries(ctx: &Ctx<'_>, input: InventoryIn) -> Result<Vec<u8>, ApiError> {
    let id = required(&input.instance_id, "instanceId")?;
    let type_name = required(&input.type_name, "typeName")?;
    let max = max_results(input.max_results, 1, 50, 50)?;
    if !input.filters.is_empty() {
        return Err(ApiError::bad_request(
            "InvalidFilter",
            "Inventory entry filters are not supported by the simulator.",
        ));
    }
    if type_name != "AWS:Application" {
        return Err(ApiError::bad_request(
            "InvalidTypeNameException",
            format!("The type name {type_name} is not valid."),
        ));
    }
    let instance = lookup_instance(ctx, id)?;
    let apps = ctx
        .state
        .fleet
        .instance_applications(&ctx.ar.account_id, &ctx.ar.region, id)
        .unwrap_or_default();
    let context = ctx.page_context("ListInventoryEntries", &format!("{id}|{type_name}"));
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &apps, input.next_token.as_deref(), max)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        type_name: &'a str,
        instance_id: &'a str,
        schema_version: &'static str,
        capture_time: String,
        entries: Vec<BTreeMap<&'static str, String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    let entries = page.iter().map(application_entry).collect();
    to_json(&Out {
        type_name,
        instance_id: &instance.instance_id,
        schema_version: "1.1",
        capture_time: wire::iso(instance.last_ping),
        entries,
        next_token,
    })
}

// ---------------------------------------------------------------------------------------------
// GetInventory

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct InventoryFilterIn {
    key: String,
    values: Vec<String>,
    r#type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ResultAttributeIn {
    type_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct GetInventoryIn {
    filters: Vec<InventoryFilterIn>,
    aggregators: Vec<serde_json::Value>,
    result_attributes: Vec<ResultAttributeIn>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// Inventory types GetInventory can return.
const INVENTORY_TYPES: [&str; 3] = ["AWS:InstanceInformation", "AWS:Application", "AWS:Tag"];

fn inventory_filter_matches(i: &Instance, f: &InventoryFilterIn) -> Result<bool, ApiError> {
    let value = match f.key.as_str() {
        "AWS:InstanceInformation.InstanceId" => i.instance_id.clone(),
        "AWS:InstanceInformation.PlatformType" => i.platform.platform_type().to_string(),
        // SSM inventory reports a stopped or terminated EC2 instance's status, else Active.
        "AWS:InstanceInformation.InstanceStatus" => match i.ping_status {
            crate::fleet::PingStatus::Inactive => "Terminated",
            _ => "Active",
        }
        .to_string(),
        other => {
            return Err(ApiError::bad_request(
                "InvalidFilterKey",
                format!("The filter key {other} is not valid for GetInventory in the simulator."),
            ));
        }
    };
    let any = f.values.contains(&value);
    match f.r#type.as_deref().unwrap_or("Equal") {
        "Equal" => Ok(any),
        "NotEqual" => Ok(!any),
        "BeginWith" => Ok(f.values.iter().any(|v| value.starts_with(v.as_str()))),
        other => Err(ApiError::bad_request(
            "InvalidFilter",
            format!(
                "The filter type {other} is not supported by the simulator for {}.",
                f.key
            ),
        )),
    }
}

fn get_inventory(ctx: &Ctx<'_>, input: GetInventoryIn) -> Result<Vec<u8>, ApiError> {
    let max = max_results(input.max_results, 1, 50, 50)?;
    if !input.aggregators.is_empty() {
        return Err(ApiError::bad_request(
            "InvalidAggregatorException",
            "Aggregators are not supported by the simulator.",
        ));
    }
    if input.filters.len() > 5 {
        return Err(ApiError::constraint(
            format!("[{} filters]", input.filters.len()),
            "filters",
            "Member must have length less than or equal to 5",
        ));
    }
    for f in &input.filters {
        if f.values.is_empty() || f.values.len() > 40 {
            return Err(ApiError::constraint(
                format!("[{} values]", f.values.len()),
                "filters.member.values",
                "Member must have length less than or equal to 40 and greater than or equal to 1",
            ));
        }
    }
    // AWS takes exactly one result attribute per call.
    let type_name = match input.result_attributes.as_slice() {
        [] => "AWS:InstanceInformation",
        [one] => one.type_name.as_str(),
        more => {
            return Err(ApiError::constraint(
                format!("[{} result attributes]", more.len()),
                "resultAttributes",
                "Member must have length less than or equal to 1",
            ));
        }
    };
    if !INVENTORY_TYPES.contains(&type_name) {
        return Err(ApiError::bad_request(
            "InvalidResultAttributeException",
            format!("The result attribute {type_name} is not valid."),
        ));
    }
    let mut selected: Vec<&Instance> = Vec::new();
    for i in &ctx.ar.instances {
        let mut keep = true;
        for f in &input.filters {
            keep &= inventory_filter_matches(i, f)?;
        }
        if keep {
            selected.push(i);
        }
    }
    let mut params = type_name.to_string();
    for f in &input.filters {
        params.push('|');
        params.push_str(&f.key);
        params.push_str(f.r#type.as_deref().unwrap_or("Equal"));
        params.push_str(&f.values.join("\u{1f}"));
    }
    let context = ctx.page_context("GetInventory", &params);
    let (page, next_token) =
        ctx.state
            .pages
            .page(&context, &selected, input.next_token.as_deref(), max)?;
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Item {
        type_name: &'static str,
        schema_version: &'static str,
        capture_time: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        content_hash: Option<String>,
        content: Vec<BTreeMap<&'static str, String>>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entity<'a> {
        id: &'a str,
        data: BTreeMap<&'static str, Item>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out<'a> {
        entities: Vec<Entity<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    let mut entities = Vec::with_capacity(page.len());
    for i in page {
        let (type_name, schema_version, content): (&'static str, &'static str, Vec<_>) =
            match type_name {
                "AWS:Application" => (
                    "AWS:Application",
                    "1.1",
                    ctx.state
                        .fleet
                        .instance_applications(&ctx.ar.account_id, &ctx.ar.region, &i.instance_id)
                        .unwrap_or_default()
                        .iter()
                        .map(application_entry)
                        .collect(),
                ),
                "AWS:Tag" => (
                    "AWS:Tag",
                    "1.0",
                    i.tags()
                        .into_iter()
                        .map(|(k, v)| {
                            BTreeMap::from([
                                ("Key", k.to_string()),
                                ("Value", v),
                                ("ResourceId", i.instance_id.clone()),
                            ])
                        })
                        .collect(),
                ),
                _ => (
                    "AWS:InstanceInformation",
                    "1.0",
                    vec![BTreeMap::from([
                        ("InstanceId", i.instance_id.clone()),
                        ("AgentType", "amazon-ssm-agent".to_string()),
                        ("AgentVersion", i.agent_version.to_string()),
                        ("ComputerName", i.computer_name.clone()),
                        ("IpAddress", i.ip_address.clone()),
                        ("PlatformName", i.platform.platform_name().to_string()),
                        ("PlatformType", i.platform.platform_type().to_string()),
                        ("PlatformVersion", i.platform.platform_version().to_string()),
                        ("ResourceType", i.resource_type.as_str().to_string()),
                        (
                            "InstanceStatus",
                            match i.ping_status {
                                crate::fleet::PingStatus::Inactive => "Terminated",
                                _ => "Active",
                            }
                            .to_string(),
                        ),
                    ])],
                ),
            };
        let item = Item {
            type_name,
            schema_version,
            capture_time: wire::iso(i.last_ping),
            content_hash: Some(format!(
                "{:016x}",
                crate::keys::splitmix64(content.len() as u64 ^ u64::from(i.index))
            )),
            content,
        };
        entities.push(Entity {
            id: &i.instance_id,
            data: BTreeMap::from([(type_name, item)]),
        });
    }
    to_json(&Out {
        entities,
        next_token,
    })
}

fn application_entry(a: &crate::fleet::Application) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("Name", a.name.clone());
    m.insert("Version", a.version.clone());
    if !a.release.is_empty() {
        m.insert("Release", a.release.clone());
    }
    m.insert("Publisher", a.publisher.clone());
    if !a.application_type.is_empty() {
        m.insert("ApplicationType", a.application_type.clone());
    }
    m.insert("Architecture", a.architecture.clone());
    m.insert("InstalledTime", wire::iso(a.installed_time));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_id_pattern() {
        assert!(valid_instance_id("i-0123456789abcdef0"));
        assert!(valid_instance_id("i-01234567"));
        assert!(valid_instance_id("mi-0123456789abcdef0"));
        assert!(!valid_instance_id("i-0123"));
        assert!(!valid_instance_id("mi-01234567"));
        assert!(!valid_instance_id("x-0123456789abcdef0"));
        assert!(!valid_instance_id("i-0123456789abcdef!"));
    }
}
