//! One struct per lake table row. Field names are the snake_case of the SSM API fields
//! (`shared/LAKE.md`); `dt` and `run_id` are partition columns and never fields here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type Timestamp = DateTime<Utc>;

/// A managed instance, from DescribeInstanceInformation plus its tags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    pub computer_name: Option<String>,
    pub platform_type: Option<String>,
    pub platform_name: Option<String>,
    pub platform_version: Option<String>,
    /// SSM's `OperatingSystem` for the platform (see [`crate::os::operating_system_for`]).
    pub operating_system: Option<String>,
    pub agent_version: Option<String>,
    pub ping_status: Option<String>,
    pub last_ping_at: Option<Timestamp>,
    pub resource_type: Option<String>,
    pub ip_address: Option<String>,
    /// Value of the `Patch Group` tag (or `PatchGroup` in instance metadata tags).
    pub patch_group: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// An instance's patch state after its last Scan or Install (DescribeInstancePatchStates).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PatchState {
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    pub patch_group: Option<String>,
    pub baseline_id: Option<String>,
    pub snapshot_id: Option<String>,
    pub operation: Option<String>,
    pub operation_start_at: Option<Timestamp>,
    pub operation_end_at: Option<Timestamp>,
    pub installed: i32,
    pub installed_other: i32,
    pub installed_pending_reboot: i32,
    pub installed_rejected: i32,
    pub missing: i32,
    pub failed: i32,
    pub not_applicable: i32,
    pub unreported_not_applicable: i32,
    pub critical_non_compliant: i32,
    pub security_non_compliant: i32,
    pub other_non_compliant: i32,
    pub reboot_option: Option<String>,
    pub last_no_reboot_install_at: Option<Timestamp>,
}

/// One patch on one instance (DescribeInstancePatches).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstancePatch {
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    pub title: String,
    pub kb_id: Option<String>,
    pub classification: Option<String>,
    pub severity: Option<String>,
    pub state: String,
    pub installed_at: Option<Timestamp>,
    pub cve_ids: Vec<String>,
}

/// A `Key = Values` patch filter of a baseline's global filters or approval rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchFilter {
    pub key: String,
    pub values: Vec<String>,
}

/// One approval rule of a baseline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRule {
    pub filters: Vec<PatchFilter>,
    pub compliance_level: Option<String>,
    pub approve_after_days: Option<i32>,
    pub approve_until_date: Option<String>,
    pub enable_non_security: bool,
}

/// A patch baseline visible in the account-region (DescribePatchBaselines + GetPatchBaseline).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub account_id: String,
    pub region: String,
    pub baseline_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub operating_system: Option<String>,
    /// Whether this baseline is the account-region's default for its operating system.
    pub is_default: bool,
    pub is_aws_owned: bool,
    pub global_filters: Vec<PatchFilter>,
    pub approval_rules: Vec<ApprovalRule>,
    pub approved_patches: Vec<String>,
    pub approved_compliance_level: Option<String>,
    pub enable_non_security: bool,
    pub rejected_patches: Vec<String>,
    pub rejected_patches_action: Option<String>,
    pub created_at: Option<Timestamp>,
    pub modified_at: Option<Timestamp>,
}

/// A patch group registered to a baseline (DescribePatchGroups).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchGroupRegistration {
    pub account_id: String,
    pub region: String,
    pub patch_group: String,
    pub baseline_id: String,
    pub operating_system: Option<String>,
}

/// One application found by inventory on an instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryApplication {
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    pub name: String,
    pub version: Option<String>,
    pub publisher: Option<String>,
    pub architecture: Option<String>,
    pub install_time: Option<String>,
}

/// A maintenance window of the account-region.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceWindow {
    pub account_id: String,
    pub region: String,
    pub window_id: String,
    pub name: Option<String>,
    pub schedule: Option<String>,
    pub duration_hours: Option<i32>,
    pub cutoff_hours: Option<i32>,
    pub enabled: bool,
    pub next_execution_at: Option<Timestamp>,
    /// Patch groups the window's targets select (`tag:Patch Group`).
    pub target_patch_groups: Vec<String>,
}

/// Outcome of collecting one account-region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageStatus {
    /// Everything was collected.
    Ok,
    /// Some calls failed after retries; what was collected is in the lake.
    Partial,
    /// Nothing could be collected (role not assumable, access denied, ...).
    Failed,
    /// Deliberately not collected (region disabled in the account, ...).
    Skipped,
}

impl CoverageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageStatus::Ok => "ok",
            CoverageStatus::Partial => "partial",
            CoverageStatus::Failed => "failed",
            CoverageStatus::Skipped => "skipped",
        }
    }
}

/// What happened when one account-region was collected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub account_id: String,
    pub region: String,
    pub status: CoverageStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub api_calls: i64,
    pub throttled_calls: i64,
    pub retries: i64,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub instances: i64,
}

/// One committed file of a run, as listed in the `runs` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFile {
    pub table: String,
    /// Path relative to the lake root.
    pub path: String,
    pub rows: i64,
    pub bytes: i64,
    pub sha256: String,
}

/// The commit record of a run: it exists exactly when the run is committed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: crate::RunId,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub tool_version: String,
    pub config_sha256: String,
    pub accounts: i32,
    pub regions: i32,
    pub tasks_ok: i32,
    pub tasks_partial: i32,
    pub tasks_failed: i32,
    /// Rows committed per table, by table name.
    pub row_counts: BTreeMap<String, i64>,
    pub files: Vec<RunFile>,
}

/// Everything collected from one account-region: the unit a collector task hands to the lake.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskOutput {
    pub instances: Vec<Instance>,
    pub patch_states: Vec<PatchState>,
    /// The `instance_patches` rows not yet spilled (see [`TaskOutput::spill_patches`]).
    pub instance_patches: Vec<InstancePatch>,
    /// `instance_patches` rows moved out of `instance_patches` while collecting, oldest
    /// first; all rows of the task are these, then `instance_patches`.
    pub spilled_patches: Vec<crate::SpilledChunk>,
    pub baselines: Vec<Baseline>,
    pub patch_groups: Vec<PatchGroupRegistration>,
    /// The `inventory_applications` rows not yet spilled (see
    /// [`TaskOutput::spill_applications`]).
    pub inventory_applications: Vec<InventoryApplication>,
    /// `inventory_applications` rows spilled while collecting, as `spilled_patches`.
    pub spilled_applications: Vec<crate::SpilledChunk>,
    pub maintenance_windows: Vec<MaintenanceWindow>,
    pub coverage: Coverage,
}

impl TaskOutput {
    /// An empty output for an account-region, to be filled by a collector.
    pub fn empty(coverage: Coverage) -> Self {
        TaskOutput {
            instances: Vec::new(),
            patch_states: Vec::new(),
            instance_patches: Vec::new(),
            spilled_patches: Vec::new(),
            baselines: Vec::new(),
            patch_groups: Vec::new(),
            inventory_applications: Vec::new(),
            spilled_applications: Vec::new(),
            maintenance_windows: Vec::new(),
            coverage,
        }
    }

    /// Stable name of the task, `<account_id>-<region>`, used for staged file names.
    pub fn task_key(&self) -> String {
        format!("{}-{}", self.coverage.account_id, self.coverage.region)
    }
}
