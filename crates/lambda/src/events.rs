//! The events and results of the four handlers: the contract with the state machine
//! (`infra/statemachine.asl.json`). Field names are the JSON paths the definition uses; the
//! integration tests check every path it references against these shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `plan`'s event: whatever the schedule sends. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanInput {
    /// Reuse this run id (a re-driven execution); a new one is generated when absent.
    pub run_id: Option<String>,
}

/// What a run covers, created by `plan` and handed unchanged to `finalize`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    pub run_id: String,
    /// RFC 3339, UTC: the time the run id encodes.
    pub started_at: String,
    pub config_sha256: String,
    pub accounts: i32,
    pub regions: i32,
    /// Account-region tasks planned (the Map's items).
    pub tasks: i64,
}

/// Where the task list is stored: the Distributed Map's `ItemReader` reads it (S3 GetObject
/// of `bucket`/`key`). For a local lake (tests), `bucket` is the lake directory and `key` the
/// path inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectLocation {
    pub bucket: String,
    pub key: String,
}

/// An account skipped by discovery, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedAccount {
    pub account_id: String,
    pub reason: String,
}

/// `plan`'s result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanOutput {
    pub run: RunInfo,
    /// The task list ([`CollectInput`]s as a JSON array), read by the Map's `ItemReader`. Kept
    /// out of the state payload: Step Functions limits it to 256 KiB, about 3,000 tasks.
    pub tasks_object: ObjectLocation,
    /// The Map's `MaxConcurrencyPath`: account-regions collected at once
    /// (`collect.concurrency`).
    pub max_concurrency: u64,
    pub skipped_accounts: Vec<SkippedAccount>,
}

/// `collect`'s event: one item of the task list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectInput {
    pub run_id: String,
    pub account_id: String,
    pub region: String,
}

/// `collect`'s result: the task's coverage row and the rows it staged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectOutput {
    pub run_id: String,
    pub account_id: String,
    pub region: String,
    /// `ok`, `partial`, `failed` or `skipped`.
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub instances: i64,
    pub api_calls: i64,
    pub throttled_calls: i64,
    pub retries: i64,
    /// Rows staged per table.
    pub rows: BTreeMap<String, i64>,
}

/// `finalize`'s event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalizeInput {
    pub run: RunInfo,
}

/// `finalize`'s result: the committed `runs` record, summarized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalizeOutput {
    pub run_id: String,
    /// Not every planned task was collected completely: some are partial, failed, or never
    /// staged (their invocation failed after every retry).
    pub partial: bool,
    pub tasks_planned: i64,
    pub tasks_ok: i32,
    pub tasks_partial: i32,
    pub tasks_failed: i32,
    pub tasks_missing: i64,
    pub row_counts: BTreeMap<String, i64>,
    pub files: usize,
    pub bytes: i64,
    /// This invocation found the run already committed (a retry) and changed nothing.
    pub already_committed: bool,
}

/// `report`'s event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    pub run_id: String,
}

/// `report`'s result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportOutput {
    pub run_id: String,
    /// Where the outputs are (a lake URL prefix).
    pub prefix: String,
    /// Report object keys written, relative to the lake root.
    pub objects: Vec<String>,
    /// The evidence bundle's key (a zip), relative to the lake root.
    pub evidence: String,
    /// SHA-256 of the bundle's `manifest.json`: kept apart from the bundle (the execution
    /// history keeps it), it detects a bundle whose files and manifest were altered together.
    pub evidence_manifest_sha256: String,
}
