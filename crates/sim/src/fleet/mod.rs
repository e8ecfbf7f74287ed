//! The synthetic organization: accounts, per account-region managed instances, baselines,
//! patch-group registrations, patch states and maintenance windows.
//!
//! [`Fleet::generate`] builds everything except the bulky per-instance lists (patch records
//! and inventory applications), which [`Fleet::instance_patches`] and
//! [`Fleet::instance_applications`] derive on demand from the seed and the instance's
//! position. Patch-state counts are decided at generation time and the records are generated
//! to match them exactly.

mod baseline;
mod catalog;
mod generate;
mod patches;
mod platform;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;

pub use baseline::{
    Baseline, BaselineOwner, ComplianceLevel, PatchFilter, PatchRule, RejectedPatchesAction,
    is_security_classification,
};
pub(crate) use patches::RecordRef;
pub use patches::{Application, PatchComplianceState, PatchRecord};
pub use platform::{OperatingSystem, Platform};

/// What to generate. The same spec always yields the same fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetSpec {
    pub seed: u64,
    pub accounts: usize,
    pub regions: Vec<String>,
    pub instances_per_region: usize,
    /// The fleet's "now": patch operation times, ages and release dates count back from it.
    pub anchor: DateTime<Utc>,
    /// Role that AssumeRole accepts in every member account.
    pub role_name: String,
    /// ExternalId that AssumeRole requires, if any.
    pub external_id: Option<String>,
    /// Indices of accounts that are SUSPENDED in the organization (AssumeRole into them fails).
    pub suspended_accounts: Vec<usize>,
    /// Regions of `regions` that are opt-in: not enabled in an account unless `region_opt_in`
    /// says so. A region that is not enabled holds no instances, SSM refuses its calls
    /// (UnrecognizedClientException, as AWS does) and ListRegions reports its status.
    pub opt_in_regions: Vec<String>,
    /// Opt-in status per (account index, opt-in region); unlisted pairs are `Disabled`.
    pub region_opt_in: Vec<(usize, String, RegionOptStatus)>,
    /// Roles besides the member role that AssumeRole accepts, e.g. the first hop of a role
    /// chain (hub → this role → member role).
    pub extra_roles: Vec<ExtraRole>,
    /// When set, the member role (`role_name`) trusts only this principal: AssumeRole into
    /// it must be called by a session of this role ARN, else AccessDenied.
    pub member_role_trusted_principal: Option<String>,
}

/// A role AssumeRole accepts besides the member role, with the ExternalId it requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtraRole {
    /// `arn:aws:iam::<account>:role/<name>`.
    pub role_arn: String,
    pub external_id: Option<String>,
}

/// An account's opt-in status of a region, as the Account Management API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum RegionOptStatus {
    Enabled,
    Enabling,
    Disabling,
    Disabled,
    EnabledByDefault,
}

impl RegionOptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RegionOptStatus::Enabled => "ENABLED",
            RegionOptStatus::Enabling => "ENABLING",
            RegionOptStatus::Disabling => "DISABLING",
            RegionOptStatus::Disabled => "DISABLED",
            RegionOptStatus::EnabledByDefault => "ENABLED_BY_DEFAULT",
        }
    }

    pub fn parse(s: &str) -> Option<RegionOptStatus> {
        [
            RegionOptStatus::Enabled,
            RegionOptStatus::Enabling,
            RegionOptStatus::Disabling,
            RegionOptStatus::Disabled,
            RegionOptStatus::EnabledByDefault,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// Whether SSM answers in the region: enabled, by default or by opting in.
    pub fn is_enabled(self) -> bool {
        matches!(
            self,
            RegionOptStatus::Enabled | RegionOptStatus::EnabledByDefault
        )
    }
}

/// Opt-in regions AWS has; ListRegions reports those outside the spec as `DISABLED`.
pub const KNOWN_OPT_IN_REGIONS: [&str; 15] = [
    "af-south-1",
    "ap-east-1",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

impl Default for FleetSpec {
    fn default() -> Self {
        FleetSpec {
            seed: 42,
            accounts: 5,
            regions: vec!["us-east-1".to_string(), "eu-west-1".to_string()],
            instances_per_region: 200,
            anchor: Utc::now().date_naive().and_time(NaiveTime::MIN).and_utc(),
            role_name: "PatchlakeReadOnly".to_string(),
            external_id: Some("patchlake-demo".to_string()),
            suspended_accounts: Vec::new(),
            opt_in_regions: Vec::new(),
            region_opt_in: Vec::new(),
            extra_roles: Vec::new(),
            member_role_trusted_principal: None,
        }
    }
}

impl FleetSpec {
    /// Rejects specs the simulator cannot serve: no account, no region, duplicate or
    /// malformed regions, an empty role name.
    pub fn validate(&self) -> crate::Result<()> {
        let invalid = |m: String| Err(crate::Error::InvalidSpec(m));
        if self.accounts == 0 {
            return invalid("at least one account is required".into());
        }
        if self.regions.is_empty() {
            return invalid("at least one region is required".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.regions {
            let well_formed = !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !well_formed {
                return invalid(format!("region {r:?} is not a region name"));
            }
            if !seen.insert(r) {
                return invalid(format!("region {r} is listed twice"));
            }
        }
        if self.role_name.is_empty() {
            return invalid("role_name must not be empty".into());
        }
        for r in &self.opt_in_regions {
            if !self.regions.contains(r) {
                return invalid(format!("opt-in region {r} is not in regions"));
            }
        }
        for (account, region, _) in &self.region_opt_in {
            if *account >= self.accounts {
                return invalid(format!("region_opt_in names account index {account}"));
            }
            if !self.opt_in_regions.contains(region) {
                return invalid(format!(
                    "region_opt_in names {region}, which is not in opt_in_regions"
                ));
            }
        }
        Ok(())
    }
}

/// The spec `patchlake demo` uses.
pub fn demo_spec() -> FleetSpec {
    FleetSpec::default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    Active,
    Suspended,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "ACTIVE",
            AccountStatus::Suspended => "SUSPENDED",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// 12 digits, possibly with leading zeros: always a string.
    pub id: String,
    pub arn: String,
    pub name: String,
    pub email: String,
    pub status: AccountStatus,
    /// `CREATED` or `INVITED`.
    pub joined_method: &'static str,
    pub joined: DateTime<Utc>,
    /// Root or OU id the account sits under.
    pub parent_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrganizationalUnit {
    pub id: String,
    pub arn: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Organization {
    pub id: String,
    pub arn: String,
    pub management_account_id: String,
    pub root_id: String,
    pub root_arn: String,
    /// Every OU sits directly under the root.
    pub units: Vec<OrganizationalUnit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PingStatus {
    Online,
    ConnectionLost,
    Inactive,
}

impl PingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PingStatus::Online => "Online",
            PingStatus::ConnectionLost => "ConnectionLost",
            PingStatus::Inactive => "Inactive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ResourceType {
    /// `i-` ids.
    #[serde(rename = "EC2Instance")]
    Ec2Instance,
    /// Hybrid activations, `mi-` ids.
    ManagedInstance,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Ec2Instance => "EC2Instance",
            ResourceType::ManagedInstance => "ManagedInstance",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operation {
    Scan,
    Install,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Scan => "Scan",
            Operation::Install => "Install",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RebootOption {
    RebootIfNeeded,
    NoReboot,
}

impl RebootOption {
    pub fn as_str(self) -> &'static str {
        match self {
            RebootOption::RebootIfNeeded => "RebootIfNeeded",
            RebootOption::NoReboot => "NoReboot",
        }
    }
}

/// Per-state patch counts of one instance, as DescribeInstancePatchStates reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PatchCounts {
    pub installed: u32,
    pub installed_other: u32,
    pub installed_pending_reboot: u32,
    pub installed_rejected: u32,
    pub missing: u32,
    pub failed: u32,
    pub not_applicable: u32,
    /// Not-applicable patches beyond the reporting limit: counted, never listed as records.
    pub unreported_not_applicable: u32,
}

impl PatchCounts {
    /// Missing + Failed + InstalledPendingReboot: the non-compliant patches.
    pub fn non_compliant(&self) -> u32 {
        self.missing + self.failed + self.installed_pending_reboot
    }

    /// Number of records DescribeInstancePatches lists: every state except
    /// UnreportedNotApplicable.
    pub fn records(&self) -> u64 {
        u64::from(self.installed)
            + u64::from(self.installed_other)
            + u64::from(self.installed_pending_reboot)
            + u64::from(self.installed_rejected)
            + u64::from(self.missing)
            + u64::from(self.failed)
            + u64::from(self.not_applicable)
    }
}

/// An instance's last patch operation summary (`InstancePatchState`).
#[derive(Debug, Clone, Serialize)]
pub struct PatchState {
    /// Index into the account-region's baselines of the baseline the agent reported with.
    pub baseline: usize,
    /// True when `baseline` is not the instance's effective baseline.
    pub drifted: bool,
    pub operation: Operation,
    pub operation_start: DateTime<Utc>,
    pub operation_end: DateTime<Utc>,
    pub counts: PatchCounts,
    /// Non-compliant patches whose compliance level under `baseline` is CRITICAL.
    pub critical_non_compliant: u32,
    /// Non-compliant patches with a security classification.
    pub security_non_compliant: u32,
    /// Non-compliant minus security non-compliant.
    pub other_non_compliant: u32,
    pub snapshot_id: String,
    pub reboot_option: RebootOption,
    pub last_no_reboot_install_operation_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub instance_id: String,
    /// Position within the account-region: the key of its lazily generated lists.
    pub index: u32,
    pub platform: Platform,
    pub resource_type: ResourceType,
    pub ping_status: PingStatus,
    pub last_ping: DateTime<Utc>,
    pub agent_version: &'static str,
    pub is_latest_version: bool,
    pub ip_address: String,
    pub computer_name: String,
    /// Hybrid instances only: registration details.
    pub registration_date: Option<DateTime<Utc>>,
    pub activation_id: Option<String>,
    pub name_tag: String,
    pub environment: &'static str,
    /// Value of the case-sensitive `Patch Group` tag; `None` when untagged.
    pub patch_group: Option<&'static str>,
    /// `None`: the instance never reported patch compliance.
    pub patch_state: Option<PatchState>,
}

impl Instance {
    pub fn operating_system(&self) -> OperatingSystem {
        self.platform.operating_system()
    }

    /// Tags as ListTagsForResource returns them, in key order.
    pub fn tags(&self) -> Vec<(&'static str, String)> {
        let mut tags = vec![
            ("Environment", self.environment.to_string()),
            ("Name", self.name_tag.clone()),
        ];
        if let Some(group) = self.patch_group {
            tags.push(("Patch Group", group.to_string()));
        }
        tags
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PatchGroupRegistration {
    pub patch_group: String,
    pub operating_system: OperatingSystem,
    /// Index into the account-region's baselines.
    pub baseline: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceWindowTarget {
    pub window_target_id: String,
    pub name: String,
    /// `tag:Patch Group`.
    pub key: String,
    pub values: Vec<String>,
    pub owner_information: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceWindow {
    pub window_id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub duration: u32,
    pub cutoff: u32,
    pub schedule: String,
    pub schedule_timezone: Option<String>,
    /// ISO-8601 string as SSM returns it, e.g. `2026-11-29T02:00Z`.
    pub next_execution_time: Option<String>,
    pub targets: Vec<MaintenanceWindowTarget>,
}

/// Everything SSM holds for one account in one region.
#[derive(Debug, Clone, Serialize)]
pub struct AccountRegion {
    pub account_id: String,
    pub region: String,
    pub baselines: Vec<Baseline>,
    /// Default baseline (index into `baselines`) for every OS in [`OperatingSystem::ALL`].
    pub default_baselines: BTreeMap<OperatingSystem, usize>,
    pub registrations: Vec<PatchGroupRegistration>,
    pub maintenance_windows: Vec<MaintenanceWindow>,
    pub instances: Vec<Instance>,
    #[serde(skip)]
    by_instance_id: BTreeMap<String, usize>,
}

impl AccountRegion {
    pub fn instance(&self, instance_id: &str) -> Option<&Instance> {
        self.by_instance_id
            .get(instance_id)
            .map(|&i| &self.instances[i])
    }

    pub fn baseline_by_id(&self, baseline_id: &str) -> Option<&Baseline> {
        self.baselines.iter().find(|b| b.id == baseline_id)
    }

    /// Baseline index registered for (patch group, OS), if any.
    pub fn registered_baseline(&self, patch_group: &str, os: OperatingSystem) -> Option<usize> {
        self.registrations
            .iter()
            .find(|r| r.patch_group == patch_group && r.operating_system == os)
            .map(|r| r.baseline)
    }

    /// The default baseline index for `os`.
    pub fn default_baseline(&self, os: OperatingSystem) -> usize {
        self.default_baselines[&os]
    }

    /// Baseline Patch Manager applies: the group's registration for the OS, else the OS
    /// default.
    pub fn effective_baseline(&self, patch_group: Option<&str>, os: OperatingSystem) -> usize {
        patch_group
            .and_then(|g| self.registered_baseline(g, os))
            .unwrap_or_else(|| self.default_baseline(os))
    }

    /// Baseline ids are unique per account-region; this is the id a patch state reports.
    pub fn baseline_id(&self, index: usize) -> &str {
        &self.baselines[index].id
    }
}

/// A generated organization. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    spec: FleetSpec,
    organization: Organization,
    accounts: Vec<Account>,
    /// Account-major: index = account index × regions + region index.
    account_regions: Vec<AccountRegion>,
}

impl Fleet {
    pub fn generate(spec: &FleetSpec) -> Fleet {
        generate::generate(spec)
    }

    pub fn spec(&self) -> &FleetSpec {
        &self.spec
    }

    pub fn organization(&self) -> &Organization {
        &self.organization
    }

    /// The management (hub) account: the identity the simulator attributes to base
    /// credentials.
    pub fn management_account_id(&self) -> &str {
        &self.organization.management_account_id
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn account(&self, account_id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == account_id)
    }

    pub fn regions(&self) -> &[String] {
        &self.spec.regions
    }

    /// The opt-in status of `region` in the account with index `account`: `EnabledByDefault`
    /// unless the region is one of the spec's opt-in regions.
    pub(crate) fn region_status_at(
        spec: &FleetSpec,
        account: usize,
        region: &str,
    ) -> RegionOptStatus {
        if !spec.opt_in_regions.iter().any(|r| r == region) {
            return RegionOptStatus::EnabledByDefault;
        }
        spec.region_opt_in
            .iter()
            .find(|(a, r, _)| *a == account && r == region)
            .map_or(RegionOptStatus::Disabled, |(_, _, s)| *s)
    }

    /// Every region ListRegions reports for the account, with its status: the spec's regions,
    /// then AWS's other opt-in regions as `DISABLED`. `None` for an unknown account.
    pub fn account_region_statuses(
        &self,
        account_id: &str,
    ) -> Option<Vec<(String, RegionOptStatus)>> {
        let a = self.accounts.iter().position(|a| a.id == account_id)?;
        let mut out: Vec<(String, RegionOptStatus)> = self
            .spec
            .regions
            .iter()
            .map(|r| (r.clone(), Self::region_status_at(&self.spec, a, r)))
            .collect();
        for r in KNOWN_OPT_IN_REGIONS {
            if !self.spec.regions.iter().any(|x| x == r) {
                out.push((r.to_string(), RegionOptStatus::Disabled));
            }
        }
        out.sort();
        Some(out)
    }

    /// Whether SSM answers for the account in `region` (the region is in the spec and enabled).
    pub fn region_enabled(&self, account_id: &str, region: &str) -> bool {
        let Some(a) = self.accounts.iter().position(|a| a.id == account_id) else {
            return false;
        };
        self.spec.regions.iter().any(|r| r == region)
            && Self::region_status_at(&self.spec, a, region).is_enabled()
    }

    pub fn account_regions(&self) -> &[AccountRegion] {
        &self.account_regions
    }

    pub fn account_region(&self, account_id: &str, region: &str) -> Option<&AccountRegion> {
        let a = self.accounts.iter().position(|a| a.id == account_id)?;
        let r = self.spec.regions.iter().position(|r| r == region)?;
        self.account_regions.get(a * self.spec.regions.len() + r)
    }

    pub fn instance_count(&self) -> usize {
        self.account_regions
            .iter()
            .map(|ar| ar.instances.len())
            .sum()
    }

    /// Every DescribeInstancePatches record of an instance; `None` if the instance does not
    /// exist, empty if it never reported.
    pub fn instance_patches(
        &self,
        account_id: &str,
        region: &str,
        instance_id: &str,
    ) -> Option<Vec<PatchRecord>> {
        let ar = self.account_region(account_id, region)?;
        let instance = ar.instance(instance_id)?;
        Some(
            self.patch_record_refs(ar, instance)
                .iter()
                .map(|r| r.to_record())
                .collect(),
        )
    }

    /// Inventory `AWS:Application` entries of an instance; `None` if it does not exist.
    pub fn instance_applications(
        &self,
        account_id: &str,
        region: &str,
        instance_id: &str,
    ) -> Option<Vec<Application>> {
        let ar = self.account_region(account_id, region)?;
        let instance = ar.instance(instance_id)?;
        Some(patches::applications(self, ar, instance))
    }

    pub(crate) fn patch_record_refs(
        &self,
        ar: &AccountRegion,
        instance: &Instance,
    ) -> Vec<RecordRef> {
        patches::record_refs(self, ar, instance)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn spec(seed: u64) -> FleetSpec {
        FleetSpec {
            seed,
            accounts: 4,
            instances_per_region: 60,
            anchor: DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z")
                .expect("valid")
                .with_timezone(&Utc),
            ..FleetSpec::default()
        }
    }

    #[test]
    fn spec_validation() {
        assert!(spec(1).validate().is_ok());
        assert!(FleetSpec::default().validate().is_ok());
        for bad in [
            FleetSpec {
                accounts: 0,
                ..spec(1)
            },
            FleetSpec {
                regions: vec![],
                ..spec(1)
            },
            FleetSpec {
                regions: vec!["us-east-1".into(), "us-east-1".into()],
                ..spec(1)
            },
            FleetSpec {
                regions: vec!["US East".into()],
                ..spec(1)
            },
            FleetSpec {
                role_name: String::new(),
                ..spec(1)
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn same_spec_same_fleet_other_seed_other_fleet() {
        let fleets = [spec(7), spec(7), spec(8)].map(|s| Fleet::generate(&s));
        let json = fleets
            .each_ref()
            .map(|f| serde_json::to_vec(f).expect("serialise"));
        assert_eq!(json[0], json[1]);
        assert_ne!(json[0], json[2]);
        let opts = crate::TruthOptions::at(spec(7).anchor);
        let truth = fleets
            .each_ref()
            .map(|f| serde_json::to_vec(&f.truth(&opts)).expect("serialise"));
        assert_eq!(truth[0], truth[1]);
        assert_ne!(truth[0], truth[2]);
    }

    #[test]
    fn lazy_lists_are_deterministic() {
        let f1 = Fleet::generate(&spec(7));
        let f2 = Fleet::generate(&spec(7));
        let ar = &f1.account_regions()[3];
        for inst in ar.instances.iter().take(10) {
            let p1 = f1.instance_patches(&ar.account_id, &ar.region, &inst.instance_id);
            let p2 = f2.instance_patches(&ar.account_id, &ar.region, &inst.instance_id);
            assert_eq!(p1, p2);
            let i1 = f1.instance_applications(&ar.account_id, &ar.region, &inst.instance_id);
            let i2 = f2.instance_applications(&ar.account_id, &ar.region, &inst.instance_id);
            assert_eq!(i1, i2);
            assert!(i1.expect("exists").len() >= 10);
        }
    }

    #[test]
    fn account_ids_are_twelve_digit_strings_some_with_leading_zero() {
        let fleet = Fleet::generate(&spec(1));
        let ids: BTreeSet<&str> = fleet.accounts().iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids.len(), 4);
        for id in &ids {
            assert_eq!(id.len(), 12);
            assert!(id.chars().all(|c| c.is_ascii_digit()));
        }
        assert!(fleet.management_account_id().starts_with('0'));
        assert!(
            fleet
                .accounts()
                .iter()
                .all(|a| a.status == AccountStatus::Active)
        );
    }

    #[test]
    fn instance_shapes() {
        let fleet = Fleet::generate(&spec(3));
        let mut platforms = BTreeSet::new();
        let mut hybrid = 0;
        let mut untagged = 0;
        let mut total = 0;
        for ar in fleet.account_regions() {
            for i in &ar.instances {
                total += 1;
                platforms.insert(i.platform);
                let (prefix, hex) = i.instance_id.split_once('-').expect("dash");
                assert_eq!(hex.len(), 17, "{}", i.instance_id);
                assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
                match i.resource_type {
                    ResourceType::Ec2Instance => assert_eq!(prefix, "i"),
                    ResourceType::ManagedInstance => {
                        assert_eq!(prefix, "mi");
                        hybrid += 1;
                    }
                }
                if i.patch_group.is_none() {
                    untagged += 1;
                }
                assert!(ar.instance(&i.instance_id).is_some());
            }
        }
        assert_eq!(platforms.len(), Platform::ALL.len());
        assert!(hybrid > 0);
        let share = f64::from(untagged) / f64::from(total);
        assert!((0.08..0.25).contains(&share), "untagged share {share}");
    }

    #[test]
    fn baseline_ids_have_the_right_shapes() {
        let fleet = Fleet::generate(&spec(5));
        let mut custom_ids = BTreeSet::new();
        for ar in fleet.account_regions() {
            for b in &ar.baselines {
                match b.owner {
                    BaselineOwner::Aws => {
                        let prefix = format!("arn:aws:ssm:{}:", ar.region);
                        assert!(b.id.starts_with(&prefix), "{}", b.id);
                        let pb = b.id.rsplit_once("patchbaseline/").expect("arn").1;
                        assert_eq!(pb.len(), 20);
                    }
                    BaselineOwner::Custom => {
                        assert!(b.id.starts_with("pb-") && b.id.len() == 20, "{}", b.id);
                        assert!(custom_ids.insert(b.id.clone()), "custom ids unique");
                    }
                }
            }
            for os in OperatingSystem::ALL {
                assert_eq!(ar.baselines[ar.default_baseline(os)].operating_system, os);
            }
            for r in &ar.registrations {
                assert_eq!(
                    ar.baselines[r.baseline].operating_system,
                    r.operating_system
                );
                assert_eq!(ar.baselines[r.baseline].owner, BaselineOwner::Custom);
            }
        }
        // AWS baselines are the same object in every account of a region.
        let us: Vec<BTreeSet<&str>> = fleet
            .account_regions()
            .iter()
            .filter(|ar| ar.region == "us-east-1")
            .map(|ar| {
                ar.baselines
                    .iter()
                    .filter(|b| b.owner == BaselineOwner::Aws)
                    .map(|b| b.id.as_str())
                    .collect()
            })
            .collect();
        assert!(us.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn records_match_counts_and_summary_counts() {
        let fleet = Fleet::generate(&spec(11));
        let mut checked = 0;
        for ar in fleet.account_regions() {
            for inst in &ar.instances {
                let records = fleet
                    .instance_patches(&ar.account_id, &ar.region, &inst.instance_id)
                    .expect("instance exists");
                let Some(state) = &inst.patch_state else {
                    assert!(records.is_empty());
                    continue;
                };
                checked += 1;
                let mut by_state: BTreeMap<PatchComplianceState, u32> = BTreeMap::new();
                for r in &records {
                    *by_state.entry(r.state).or_default() += 1;
                }
                for st in PatchComplianceState::ALL {
                    assert_eq!(
                        by_state.get(&st).copied().unwrap_or(0),
                        st.count_in(&state.counts),
                        "{} {st:?}",
                        inst.instance_id
                    );
                }
                assert_eq!(records.len() as u64, state.counts.records());
                let titles: BTreeSet<&str> = records.iter().map(|r| r.title.as_str()).collect();
                assert_eq!(titles.len(), records.len(), "distinct patches");
                let nc: Vec<&PatchRecord> = records
                    .iter()
                    .filter(|r| r.state.is_non_compliant())
                    .collect();
                let security = nc
                    .iter()
                    .filter(|r| is_security_classification(&r.classification))
                    .count() as u32;
                assert_eq!(security, state.security_non_compliant);
                assert_eq!(nc.len() as u32 - security, state.other_non_compliant);
                assert!(state.critical_non_compliant <= nc.len() as u32);
                for r in &records {
                    match r.state {
                        PatchComplianceState::Missing
                        | PatchComplianceState::Failed
                        | PatchComplianceState::NotApplicable => {
                            assert!(r.installed_time.is_none())
                        }
                        _ => assert!(r.installed_time.is_some()),
                    }
                }
                let baseline = &ar.baselines[state.baseline];
                assert_eq!(
                    baseline.operating_system,
                    inst.operating_system(),
                    "reported baseline matches the OS"
                );
            }
        }
        assert!(checked > 300);
    }

    #[test]
    fn critical_counts_follow_the_reporting_baseline() {
        // Recompute CRITICAL levels from the baseline rules for every non-compliant record.
        let fleet = Fleet::generate(&spec(12));
        let today = fleet.spec().anchor.date_naive();
        let mut critical_total = 0;
        for ar in fleet.account_regions() {
            for inst in &ar.instances {
                let Some(state) = &inst.patch_state else {
                    continue;
                };
                let baseline = &ar.baselines[state.baseline];
                let critical = fleet
                    .patch_record_refs(ar, inst)
                    .iter()
                    .filter(|r| r.state.is_non_compliant())
                    .filter(|r| {
                        baseline.compliance_level(inst.platform, r.patch, today)
                            == Some(ComplianceLevel::Critical)
                    })
                    .count() as u32;
                assert_eq!(critical, state.critical_non_compliant);
                critical_total += critical;
            }
        }
        assert!(critical_total > 0);
    }

    #[test]
    fn realistic_distributions() {
        let fleet = Fleet::generate(&FleetSpec {
            instances_per_region: 400,
            ..spec(21)
        });
        let anchor = fleet.spec().anchor;
        let (mut n, mut reported, mut stale, mut drifted, mut nc) = (0u32, 0u32, 0u32, 0u32, 0u32);
        for ar in fleet.account_regions() {
            for i in &ar.instances {
                n += 1;
                if let Some(s) = &i.patch_state {
                    reported += 1;
                    if s.operation_end < anchor - chrono::Duration::days(7) {
                        stale += 1;
                    }
                    if s.drifted {
                        drifted += 1;
                    }
                    if s.counts.non_compliant() > 0 {
                        nc += 1;
                    }
                }
            }
        }
        let pct = |x: u32, of: u32| f64::from(x) * 100.0 / f64::from(of);
        assert!(
            (88.0..96.0).contains(&pct(reported, n)),
            "reported {}",
            pct(reported, n)
        );
        assert!(
            (10.0..35.0).contains(&pct(stale, reported)),
            "stale {}",
            pct(stale, reported)
        );
        assert!(
            (1.0..6.0).contains(&pct(drifted, reported)),
            "drift {}",
            pct(drifted, reported)
        );
        assert!(
            (30.0..70.0).contains(&pct(nc, reported)),
            "nc {}",
            pct(nc, reported)
        );
    }

    /// Generation speed at production scale. Run with
    /// `cargo test -p patchlake-sim --release -- --ignored --nocapture generation_speed`.
    #[test]
    #[ignore]
    fn generation_speed_100k_instances() {
        let spec = FleetSpec {
            accounts: 50,
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            instances_per_region: 1000,
            ..FleetSpec::default()
        };
        let start = std::time::Instant::now();
        let fleet = Fleet::generate(&spec);
        let generated = start.elapsed();
        assert_eq!(fleet.instance_count(), 100_000);
        let start = std::time::Instant::now();
        let truth = fleet.truth(&crate::TruthOptions::at(spec.anchor));
        let truth_time = start.elapsed();
        let ar = &fleet.account_regions()[0];
        let start = std::time::Instant::now();
        let mut records = 0;
        for inst in ar.instances.iter().take(1000) {
            records += fleet.patch_record_refs(ar, inst).len();
        }
        let lazy = start.elapsed();
        println!(
            "generate 100k instances: {generated:?}; truth: {truth_time:?}; \
             patch records fleet-wide: {}; lazy records for 1000 instances ({records}): {lazy:?}",
            truth.totals.patch_records
        );
    }
}
