//! SDK types → patchlake records. The only place that reads SSM's response shapes.

use std::collections::BTreeMap;

use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
use aws_sdk_ssm::operation::describe_instance_patch_states::DescribeInstancePatchStatesOutput;
use aws_sdk_ssm::operation::describe_instance_patches::DescribeInstancePatchesOutput;
use aws_sdk_ssm::operation::describe_maintenance_window_targets::DescribeMaintenanceWindowTargetsOutput;
use aws_sdk_ssm::operation::describe_maintenance_windows::DescribeMaintenanceWindowsOutput;
use aws_sdk_ssm::operation::describe_patch_baselines::DescribePatchBaselinesOutput;
use aws_sdk_ssm::operation::describe_patch_groups::DescribePatchGroupsOutput;
use aws_sdk_ssm::operation::get_inventory::GetInventoryOutput;
use aws_sdk_ssm::operation::get_patch_baseline::GetPatchBaselineOutput;
use aws_sdk_ssm::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_ssm::types::{
    InstanceInformation, InstancePatchState, MaintenanceWindowIdentity, PatchBaselineIdentity,
    PatchComplianceData, PatchFilterGroup, PatchGroupPatchBaselineMapping,
};
use aws_smithy_types::DateTime as SdkTime;
use patchlake_assume::{AwsError, SdkOutput};
use patchlake_model::os::operating_system_for;
use patchlake_model::{
    ApprovalRule, Baseline, Instance, InstancePatch, InventoryApplication, MaintenanceWindow,
    PatchFilter, PatchGroupRegistration, PatchState, Timestamp,
};

use crate::Target;

/// The tag keys that name an instance's patch group: `Patch Group` on EC2 and SSM tags,
/// `PatchGroup` where instance metadata tags are used (they cannot contain spaces).
pub const PATCH_GROUP_TAGS: [&str; 2] = ["Patch Group", "PatchGroup"];

/// A page whose items must each carry their identifier, and whose counts cannot be negative.
/// The SDK fills a missing required member with its default (an empty string), so an item
/// without its identifier parses; a count below zero parses too. Such a page is malformed — it
/// is re-requested (the SDK retries it, see [`malformed`]) and, if it is still malformed when
/// the attempts run out, the call fails with `MalformedResponse` naming the defect. A page is
/// never kept short (an item dropped), blank (an item with an empty id) or negative.
pub trait Page {
    /// What makes the page malformed, if anything.
    fn defect(&self) -> Option<Defect>;
}

/// Why a page is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defect {
    /// An item lacks this identifier member.
    Missing(&'static str),
    /// An item's count is below zero.
    Negative {
        field: &'static str,
        instance_id: String,
        value: i32,
    },
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Defect::Missing(member) => write!(f, "an item of the page lacks its {member}"),
            Defect::Negative {
                field,
                instance_id,
                value,
            } => write!(
                f,
                "instance {instance_id} has {field} {value}, a count below zero"
            ),
        }
    }
}

fn blank(v: Option<&str>) -> bool {
    v.is_none_or(str::is_empty)
}

/// `member` when any of `items` lacks it.
fn lacks<T>(items: &[T], member: &'static str, id: impl Fn(&T) -> Option<&str>) -> Option<Defect> {
    items
        .iter()
        .any(|i| blank(id(i)))
        .then_some(Defect::Missing(member))
}

/// The first count of a patch state below zero.
fn negative_count(p: &InstancePatchState) -> Option<Defect> {
    let counts = [
        ("InstalledCount", Some(p.installed_count())),
        ("InstalledOtherCount", Some(p.installed_other_count())),
        (
            "InstalledPendingRebootCount",
            p.installed_pending_reboot_count(),
        ),
        ("InstalledRejectedCount", p.installed_rejected_count()),
        ("MissingCount", Some(p.missing_count())),
        ("FailedCount", Some(p.failed_count())),
        ("NotApplicableCount", Some(p.not_applicable_count())),
        (
            "UnreportedNotApplicableCount",
            p.unreported_not_applicable_count(),
        ),
        (
            "CriticalNonCompliantCount",
            p.critical_non_compliant_count(),
        ),
        (
            "SecurityNonCompliantCount",
            p.security_non_compliant_count(),
        ),
        ("OtherNonCompliantCount", p.other_non_compliant_count()),
    ];
    counts.into_iter().find_map(|(field, v)| {
        v.filter(|&v| v < 0).map(|value| Defect::Negative {
            field,
            instance_id: p.instance_id().to_owned(),
            value,
        })
    })
}

impl Page for DescribeInstanceInformationOutput {
    fn defect(&self) -> Option<Defect> {
        lacks(self.instance_information_list(), "InstanceId", |i| {
            i.instance_id()
        })
    }
}

impl Page for DescribeInstancePatchStatesOutput {
    fn defect(&self) -> Option<Defect> {
        lacks(self.instance_patch_states(), "InstanceId", |s| {
            Some(s.instance_id())
        })
        .or_else(|| self.instance_patch_states().iter().find_map(negative_count))
    }
}

impl Page for DescribeInstancePatchesOutput {
    fn defect(&self) -> Option<Defect> {
        lacks(self.patches(), "KBId", |p| Some(p.kb_id()))
    }
}

impl Page for DescribePatchBaselinesOutput {
    fn defect(&self) -> Option<Defect> {
        lacks(self.baseline_identities(), "BaselineId", |b| {
            b.baseline_id()
        })
    }
}

impl Page for DescribePatchGroupsOutput {
    fn defect(&self) -> Option<Defect> {
        lacks(self.mappings(), "PatchGroup", |m| m.patch_group()).or_else(|| {
            lacks(self.mappings(), "BaselineIdentity.BaselineId", |m| {
                m.baseline_identity().and_then(|b| b.baseline_id())
            })
        })
    }
}

impl Page for DescribeMaintenanceWindowsOutput {
    fn defect(&self) -> Option<Defect> {
        lacks(self.window_identities(), "WindowId", |w| w.window_id())
    }
}

impl Page for DescribeMaintenanceWindowTargetsOutput {
    fn defect(&self) -> Option<Defect> {
        lacks(self.targets(), "WindowTargetId", |t| t.window_target_id())
    }
}

impl Page for GetInventoryOutput {
    fn defect(&self) -> Option<Defect> {
        lacks(self.entities(), "Id", |e| e.id())
    }
}

impl Page for ListTagsForResourceOutput {
    fn defect(&self) -> Option<Defect> {
        lacks(self.tag_list(), "Key", |t| Some(t.key()))
    }
}

/// Whether an SSM output the SDK parsed is a malformed page (see [`Page`]): the check the
/// client factory's retry classifier runs on every attempt's output.
pub fn malformed(output: &SdkOutput) -> bool {
    fn lacking<T: Page + Send + Sync + std::fmt::Debug + 'static>(o: &SdkOutput) -> Option<bool> {
        o.downcast_ref::<T>().map(|p| p.defect().is_some())
    }
    lacking::<DescribeInstanceInformationOutput>(output)
        .or_else(|| lacking::<DescribeInstancePatchStatesOutput>(output))
        .or_else(|| lacking::<DescribeInstancePatchesOutput>(output))
        .or_else(|| lacking::<DescribePatchBaselinesOutput>(output))
        .or_else(|| lacking::<DescribePatchGroupsOutput>(output))
        .or_else(|| lacking::<DescribeMaintenanceWindowsOutput>(output))
        .or_else(|| lacking::<DescribeMaintenanceWindowTargetsOutput>(output))
        .or_else(|| lacking::<GetInventoryOutput>(output))
        .or_else(|| lacking::<ListTagsForResourceOutput>(output))
        .unwrap_or(false)
}

/// `page` when it is whole; `MalformedResponse` naming `operation` when the SDK's retries
/// ended on a page that is still malformed.
pub fn whole<P: Page>(operation: &'static str, page: P) -> Result<P, AwsError> {
    match page.defect() {
        Some(defect) => Err(AwsError::malformed(operation, &defect.to_string())),
        None => Ok(page),
    }
}

pub fn ts(t: &SdkTime) -> Option<Timestamp> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// SSM reports "no time" as the epoch; the lake stores it as null.
fn ts_nonzero(t: &SdkTime) -> Option<Timestamp> {
    if t.secs() == 0 && t.subsec_nanos() == 0 {
        None
    } else {
        ts(t)
    }
}

fn s(v: Option<&str>) -> Option<String> {
    v.filter(|x| !x.is_empty()).map(str::to_owned)
}

pub fn patch_group_from_tags(tags: &BTreeMap<String, String>) -> Option<&str> {
    PATCH_GROUP_TAGS
        .iter()
        .find_map(|k| tags.get(*k))
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// An instance of a [`whole`] page.
pub fn instance(target: &Target, i: &InstanceInformation) -> Instance {
    let instance_id = i.instance_id().unwrap_or_default().to_owned();
    let platform_type = i.platform_type().map(|p| p.as_str().to_owned());
    let platform_name = s(i.platform_name());
    let platform_version = s(i.platform_version());
    let operating_system = operating_system_for(
        platform_type.as_deref().unwrap_or_default(),
        platform_name.as_deref().unwrap_or_default(),
        platform_version.as_deref().unwrap_or_default(),
    )
    .map(str::to_owned);
    Instance {
        account_id: target.account_id.clone(),
        region: target.region.clone(),
        instance_id,
        computer_name: s(i.computer_name()),
        platform_type,
        platform_name,
        platform_version,
        operating_system,
        agent_version: s(i.agent_version()),
        ping_status: i.ping_status().map(|p| p.as_str().to_owned()),
        last_ping_at: i.last_ping_date_time().and_then(ts),
        resource_type: i.resource_type().map(|r| r.as_str().to_owned()),
        ip_address: s(i.ip_address()),
        patch_group: None,
        tags: BTreeMap::new(),
    }
}

/// One `AWS:Application` inventory entry (a GetInventory content row) as a lake row.
pub fn inventory_application(
    target: &Target,
    instance_id: &str,
    entry: &std::collections::HashMap<String, String>,
) -> Option<InventoryApplication> {
    let get = |k: &str| s(entry.get(k).map(String::as_str));
    Some(InventoryApplication {
        account_id: target.account_id.clone(),
        region: target.region.clone(),
        instance_id: instance_id.to_owned(),
        name: get("Name")?,
        version: get("Version"),
        publisher: get("Publisher"),
        architecture: get("Architecture"),
        install_time: get("InstalledTime"),
    })
}

pub fn patch_state(target: &Target, p: &InstancePatchState) -> PatchState {
    PatchState {
        account_id: target.account_id.clone(),
        region: target.region.clone(),
        instance_id: p.instance_id().to_owned(),
        patch_group: s(Some(p.patch_group())),
        baseline_id: s(Some(p.baseline_id())),
        snapshot_id: s(p.snapshot_id()),
        operation: Some(p.operation().as_str().to_owned()),
        operation_start_at: ts_nonzero(p.operation_start_time()),
        operation_end_at: ts_nonzero(p.operation_end_time()),
        installed: p.installed_count(),
        installed_other: p.installed_other_count(),
        installed_pending_reboot: p.installed_pending_reboot_count().unwrap_or(0),
        installed_rejected: p.installed_rejected_count().unwrap_or(0),
        missing: p.missing_count(),
        failed: p.failed_count(),
        not_applicable: p.not_applicable_count(),
        unreported_not_applicable: p.unreported_not_applicable_count().unwrap_or(0),
        critical_non_compliant: p.critical_non_compliant_count().unwrap_or(0),
        security_non_compliant: p.security_non_compliant_count().unwrap_or(0),
        other_non_compliant: p.other_non_compliant_count().unwrap_or(0),
        reboot_option: p.reboot_option().map(|r| r.as_str().to_owned()),
        last_no_reboot_install_at: p
            .last_no_reboot_install_operation_time()
            .and_then(ts_nonzero),
    }
}

pub fn instance_patch(
    target: &Target,
    instance_id: &str,
    d: &PatchComplianceData,
) -> InstancePatch {
    InstancePatch {
        account_id: target.account_id.clone(),
        region: target.region.clone(),
        instance_id: instance_id.to_owned(),
        title: d.title().to_owned(),
        kb_id: s(Some(d.kb_id())),
        classification: s(Some(d.classification())),
        severity: s(Some(d.severity())),
        state: patch_state_name(d.state().as_str()).to_owned(),
        installed_at: ts_nonzero(d.installed_time()),
        cve_ids: d
            .cve_ids()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// The lake's name for a patch state: the PascalCase names DescribeInstancePatchStates counts
/// by (`InstalledPendingReboot`), from the wire enum of PatchComplianceData (`INSTALLED_PENDING_REBOOT`).
pub fn patch_state_name(wire: &str) -> &str {
    match wire {
        "INSTALLED" | "Installed" => "Installed",
        "INSTALLED_OTHER" | "InstalledOther" => "InstalledOther",
        "INSTALLED_PENDING_REBOOT" | "InstalledPendingReboot" => "InstalledPendingReboot",
        "INSTALLED_REJECTED" | "InstalledRejected" => "InstalledRejected",
        "MISSING" | "Missing" => "Missing",
        "FAILED" | "Failed" => "Failed",
        "NOT_APPLICABLE" | "NotApplicable" => "NotApplicable",
        "AVAILABLE_SECURITY_UPDATE" | "AvailableSecurityUpdate" => "AvailableSecurityUpdate",
        other => other,
    }
}

fn filters(group: Option<&PatchFilterGroup>) -> Vec<PatchFilter> {
    group
        .map(|g| g.patch_filters())
        .unwrap_or_default()
        .iter()
        .map(|f| PatchFilter {
            key: f.key().as_str().to_owned(),
            values: f.values().to_vec(),
        })
        .collect()
}

pub fn baseline(
    target: &Target,
    ident: &PatchBaselineIdentity,
    doc: &GetPatchBaselineOutput,
    is_default: bool,
) -> Baseline {
    let baseline_id = doc
        .baseline_id()
        .or(ident.baseline_id())
        .unwrap_or_default()
        .to_owned();
    let name = s(doc.name().or(ident.baseline_name()));
    // AWS-managed baselines are addressed by ARN in the AWS account that owns them, and
    // named AWS-*; custom ones are plain pb- ids.
    let is_aws_owned =
        baseline_id.starts_with("arn:") || name.as_deref().is_some_and(|n| n.starts_with("AWS-"));
    Baseline {
        account_id: target.account_id.clone(),
        region: target.region.clone(),
        baseline_id,
        name,
        description: s(doc.description().or(ident.baseline_description())),
        operating_system: doc
            .operating_system()
            .or(ident.operating_system())
            .map(|o| o.as_str().to_owned()),
        is_default,
        is_aws_owned,
        global_filters: filters(doc.global_filters()),
        approval_rules: doc
            .approval_rules()
            .map(|g| g.patch_rules())
            .unwrap_or_default()
            .iter()
            .map(|r| ApprovalRule {
                filters: filters(r.patch_filter_group()),
                compliance_level: r.compliance_level().map(|c| c.as_str().to_owned()),
                approve_after_days: r.approve_after_days(),
                approve_until_date: s(r.approve_until_date()),
                enable_non_security: r.enable_non_security().unwrap_or(false),
            })
            .collect(),
        approved_patches: doc.approved_patches().to_vec(),
        approved_compliance_level: doc
            .approved_patches_compliance_level()
            .map(|c| c.as_str().to_owned()),
        enable_non_security: doc.approved_patches_enable_non_security().unwrap_or(false),
        rejected_patches: doc.rejected_patches().to_vec(),
        rejected_patches_action: doc.rejected_patches_action().map(|a| a.as_str().to_owned()),
        created_at: doc.created_date().and_then(ts),
        modified_at: doc.modified_date().and_then(ts),
    }
}

/// A registration of a [`whole`] page.
pub fn patch_group(target: &Target, m: &PatchGroupPatchBaselineMapping) -> PatchGroupRegistration {
    let ident = m.baseline_identity();
    PatchGroupRegistration {
        account_id: target.account_id.clone(),
        region: target.region.clone(),
        patch_group: m.patch_group().unwrap_or_default().to_owned(),
        baseline_id: ident
            .and_then(|i| i.baseline_id())
            .unwrap_or_default()
            .to_owned(),
        operating_system: ident
            .and_then(|i| i.operating_system())
            .map(|o| o.as_str().to_owned()),
    }
}

pub fn maintenance_window(
    target: &Target,
    w: &MaintenanceWindowIdentity,
    target_patch_groups: Vec<String>,
) -> MaintenanceWindow {
    MaintenanceWindow {
        account_id: target.account_id.clone(),
        region: target.region.clone(),
        window_id: w.window_id().unwrap_or_default().to_owned(),
        name: s(w.name()),
        schedule: s(w.schedule()),
        duration_hours: w.duration(),
        cutoff_hours: Some(w.cutoff()),
        enabled: w.enabled(),
        next_execution_at: w
            .next_execution_time()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
        target_patch_groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_group_tag_keys_are_case_sensitive() {
        let tags = BTreeMap::from([("patch group".to_string(), "x".to_string())]);
        assert_eq!(patch_group_from_tags(&tags), None);
        let tags = BTreeMap::from([("Patch Group".to_string(), "prod".to_string())]);
        assert_eq!(patch_group_from_tags(&tags), Some("prod"));
        let tags = BTreeMap::from([("PatchGroup".to_string(), "dev".to_string())]);
        assert_eq!(patch_group_from_tags(&tags), Some("dev"));
    }

    #[test]
    fn epoch_means_no_time() {
        assert_eq!(ts_nonzero(&SdkTime::from_secs(0)), None);
        assert_eq!(
            ts_nonzero(&SdkTime::from_secs(1_764_000_000)).map(|t| t.timestamp()),
            Some(1_764_000_000)
        );
    }

    fn state(instance_id: &str, missing: i32, rejected: Option<i32>) -> InstancePatchState {
        InstancePatchState::builder()
            .instance_id(instance_id)
            .patch_group("prod")
            .baseline_id("pb-0123456789abcdef0")
            .operation(aws_sdk_ssm::types::PatchOperationType::Scan)
            .operation_start_time(SdkTime::from_secs(1_764_000_000))
            .operation_end_time(SdkTime::from_secs(1_764_000_060))
            .installed_count(12)
            .missing_count(missing)
            .set_installed_rejected_count(rejected)
            .build()
            .unwrap()
    }

    #[test]
    fn a_negative_count_makes_the_page_malformed_naming_call_field_and_instance() {
        let page = |states: Vec<InstancePatchState>| {
            DescribeInstancePatchStatesOutput::builder()
                .set_instance_patch_states(Some(states))
                .build()
        };
        let fine = page(vec![state("i-1", 0, Some(0)), state("i-2", 3, None)]);
        assert_eq!(fine.defect(), None);

        let bad = page(vec![state("i-1", 0, None), state("i-2", -3, None)]);
        assert_eq!(
            bad.defect(),
            Some(Defect::Negative {
                field: "MissingCount",
                instance_id: "i-2".into(),
                value: -3
            })
        );
        let e = whole("ssm:DescribeInstancePatchStates", bad).unwrap_err();
        assert_eq!(e.code, AwsError::MALFORMED);
        assert_eq!(e.operation, "ssm:DescribeInstancePatchStates");
        assert!(
            e.message.contains("instance i-2 has MissingCount -3"),
            "{}",
            e.message
        );

        let optional = page(vec![state("i-3", 1, Some(-1))]);
        assert_eq!(
            optional.defect().map(|d| d.to_string()),
            Some("instance i-3 has InstalledRejectedCount -1, a count below zero".into())
        );
    }

    #[test]
    fn cve_ids_are_split_and_trimmed() {
        let d = PatchComplianceData::builder()
            .title("openssl")
            .kb_id("openssl")
            .classification("Security")
            .severity("Important")
            .state(aws_sdk_ssm::types::PatchComplianceDataState::Missing)
            .installed_time(SdkTime::from_secs(0))
            .cve_ids("CVE-2024-1, CVE-2024-2,,")
            .build()
            .unwrap();
        let p = instance_patch(&Target::new("012345678901", "us-east-1"), "i-1", &d);
        assert_eq!(p.cve_ids, vec!["CVE-2024-1", "CVE-2024-2"]);
        assert_eq!(p.installed_at, None);
        assert_eq!(p.state, "Missing");
    }
}
