//! `report`: the report suite over the committed run and its audit evidence bundle, written
//! into the lake under `reports/`.

use patchlake_model::RunId;
use patchlake_query::{AsOf, LakeQuery, ReportOptions, ReportParams, list_reports};
use patchlake_report::Format;

use crate::Deps;
use crate::error::{ErrorKind, HandlerError, Result};
use crate::events::{ReportInput, ReportOutput};

/// Formats every report is written in: CSV for spreadsheets and QuickSight, JSON for scripts.
const FORMATS: [Format; 2] = [Format::Csv, Format::Json];

/// Prefix of a run's reports, Hive-partitioned like the tables.
pub fn reports_prefix(run_id: &RunId) -> String {
    format!("reports/dt={}/run_id={run_id}", run_id.dt())
}

/// Name of the evidence bundle (a zip, as `patchlake evidence --out FILE.zip` writes it) in a
/// run's reports prefix.
pub const EVIDENCE_OBJECT: &str = "evidence.zip";

/// Runs every named report over `run_id` (which must be committed) and writes each in every
/// format, then the run's evidence bundle (reports, SQL, coverage, configuration hash and a
/// SHA-256 manifest; `patchlake evidence verify` rechecks it). Objects are overwritten with
/// the same content, so a retry is harmless.
pub async fn report(deps: &Deps, input: ReportInput) -> Result<ReportOutput> {
    let run_id: RunId = input.run_id.parse().map_err(|e| {
        HandlerError::bad_input(format!(
            "report event: field `run_id` = {:?}: {e}",
            input.run_id
        ))
    })?;
    let r = &deps.config.report;
    let params = ReportParams {
        stale_after_days: r.stale_after_days,
    };
    let options = ReportOptions {
        pending_reboot_non_compliant: r.pending_reboot_non_compliant,
        rejected_non_compliant: r.rejected_non_compliant,
        exclude_inactive: r.exclude_inactive,
        trend_runs: r.trend_runs,
    };
    let context = format!("reports of run {run_id}");
    let q = LakeQuery::from_lake_with(&deps.lake, AsOf::Run(run_id.clone()), params, options)
        .await
        .map_err(|e| HandlerError::query(&context, &e))?;
    let prefix = reports_prefix(&run_id);
    let mut objects = Vec::new();
    for report in list_reports() {
        let batches = q
            .report(report.name)
            .await
            .map_err(|e| HandlerError::query(&format!("{context}: {}", report.name), &e))?;
        for format in FORMATS {
            let key = format!("{prefix}/{}.{}", report.name, format.extension());
            let mut body = Vec::new();
            patchlake_report::write(&batches, format, &mut body).map_err(|e| {
                HandlerError::new(
                    ErrorKind::Internal,
                    format!("{context}: rendering {key}: {e}"),
                )
            })?;
            deps.lake
                .storage()
                .put(&key, body)
                .await
                .map_err(|e| HandlerError::lake(&format!("{context}: writing {key}"), &e))?;
            objects.push(key);
        }
    }
    let meta = patchlake_evidence::BundleMeta {
        as_of: run_id.to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        lake_root: deps.config.lake.root.clone(),
        config_json: serde_json::to_vec(&*deps.config).map_err(|e| {
            HandlerError::new(
                ErrorKind::Internal,
                format!("{context}: configuration: {e}"),
            )
        })?,
        controls: true,
    };
    let internal = |what: &str, e: &dyn std::fmt::Display| {
        HandlerError::new(ErrorKind::Internal, format!("{context}: {what}: {e}"))
    };
    let bundle = patchlake_evidence::build(&q, &meta)
        .await
        .map_err(|e| internal("building the evidence bundle", &e))?;
    let zip = bundle
        .zip_bytes()
        .map_err(|e| internal("zipping the evidence bundle", &e))?;
    let key = format!("{prefix}/{EVIDENCE_OBJECT}");
    deps.lake
        .storage()
        .put(&key, zip)
        .await
        .map_err(|e| HandlerError::lake(&format!("{context}: writing {key}"), &e))?;
    let evidence_manifest_sha256 = bundle.manifest_sha256();
    tracing::info!(run_id = %run_id, objects = objects.len() + 1, evidence = %key,
        manifest_sha256 = %evidence_manifest_sha256, "reports and evidence written");
    Ok(ReportOutput {
        run_id: run_id.to_string(),
        prefix: deps.lake.storage().url(&prefix),
        objects,
        evidence: key,
        evidence_manifest_sha256,
    })
}
