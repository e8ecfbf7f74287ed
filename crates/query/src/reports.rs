//! The named reports and views: SQL files from the top-level `queries/` directory, compiled
//! into the binary.

use crate::{Error, Result};

/// A named report: one SQL query over the selected run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    pub name: &'static str,
    pub description: &'static str,
    /// Columns of the `params` table the report depends on.
    pub parameters: &'static [&'static str],
    pub sql: &'static str,
}

/// A view registered in every query context before any report runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub name: &'static str,
    /// A `CREATE VIEW <name> AS ...` statement.
    pub sql: &'static str,
}

macro_rules! query_file {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../queries/",
            $path
        ))
    };
}

/// Views, in dependency order.
pub const VIEWS: &[View] = &[
    View {
        name: "history_instance_compliance",
        sql: query_file!("views/history_instance_compliance.sql"),
    },
    View {
        name: "instance_compliance",
        sql: query_file!("views/instance_compliance.sql"),
    },
];

const COMPLIANCE_PARAMS: &[&str] = &[
    "stale_before",
    "pending_reboot_non_compliant",
    "rejected_non_compliant",
    "exclude_inactive",
];
const HISTORY_PARAMS: &[&str] = &["run_started_at", "runs_back"];
const TREND_PARAMS: &[&str] = &[
    "stale_before",
    "pending_reboot_non_compliant",
    "rejected_non_compliant",
    "exclude_inactive",
    "runs_back",
    "trend_runs",
];

const REPORTS: &[Report] = &[
    Report {
        name: "compliance_by_patch_group",
        description: "Instances by compliance status and patch counts, per patch group",
        parameters: COMPLIANCE_PARAMS,
        sql: query_file!("compliance_by_patch_group.sql"),
    },
    Report {
        name: "compliance_by_baseline",
        description: "Instances by compliance status and patch counts, per effective patch baseline",
        parameters: COMPLIANCE_PARAMS,
        sql: query_file!("compliance_by_baseline.sql"),
    },
    Report {
        name: "compliance_by_operating_system",
        description: "Instances by compliance status and patch counts, per operating system",
        parameters: COMPLIANCE_PARAMS,
        sql: query_file!("compliance_by_operating_system.sql"),
    },
    Report {
        name: "compliance_by_account_region",
        description: "Collection outcome, compliance status and patch counts, per account and region",
        parameters: COMPLIANCE_PARAMS,
        sql: query_file!("compliance_by_account_region.sql"),
    },
    Report {
        name: "missing_critical_patches",
        description: "Missing or failed critical-severity or security patches, per instance, with CVE ids",
        parameters: COMPLIANCE_PARAMS,
        sql: query_file!("missing_critical_patches.sql"),
    },
    Report {
        name: "cve_exposure",
        description: "CVEs that missing or failed patches would fix: severity, instances, accounts, and since when",
        parameters: HISTORY_PARAMS,
        sql: query_file!("cve_exposure.sql"),
    },
    Report {
        name: "stale_and_unreported",
        description: "Instances without trustworthy patch data (stale or unreported) and, apart, inactive ones (stopped or terminated), with last ping and last operation",
        parameters: COMPLIANCE_PARAMS,
        sql: query_file!("stale_and_unreported.sql"),
    },
    Report {
        name: "baseline_drift",
        description: "Instances whose last patch operation used another baseline than the effective one",
        parameters: COMPLIANCE_PARAMS,
        sql: query_file!("baseline_drift.sql"),
    },
    Report {
        name: "maintenance_window_context",
        description: "Non-compliant instances with the maintenance windows targeting their patch group",
        parameters: COMPLIANCE_PARAMS,
        sql: query_file!("maintenance_window_context.sql"),
    },
    Report {
        name: "compliance_trend",
        description: "Fleet compliance per committed run, over the last trend_runs runs",
        parameters: TREND_PARAMS,
        sql: query_file!("compliance_trend.sql"),
    },
    Report {
        name: "days_missing",
        description: "Per patch: first and last run seen missing, days missing, instances still missing, mean time to remediate",
        parameters: HISTORY_PARAMS,
        sql: query_file!("days_missing.sql"),
    },
];

/// Every named report, in presentation order.
pub fn list_reports() -> &'static [Report] {
    REPORTS
}

/// The report called `name`; an unknown name is an error listing the known ones.
pub fn find_report(name: &str) -> Result<&'static Report> {
    REPORTS
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| Error::UnknownReport {
            name: name.to_owned(),
            known: REPORTS
                .iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_have_unique_names_and_sql() {
        let mut names: Vec<_> = list_reports().iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), list_reports().len());
        for r in list_reports() {
            assert!(r.sql.contains("SELECT"), "{}", r.name);
            assert!(
                r.sql.starts_with(&format!("-- {}:", r.name)),
                "{} header",
                r.name
            );
        }
        for v in VIEWS {
            assert!(
                v.sql.contains(&format!("CREATE VIEW {} AS", v.name)),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn unknown_report_lists_the_known_ones() {
        let err = find_report("compliance_by_nothing")
            .unwrap_err()
            .to_string();
        assert!(err.contains("compliance_by_nothing"), "{err}");
        assert!(
            err.contains("compliance_by_patch_group, compliance_by_baseline"),
            "{err}"
        );
    }
}
