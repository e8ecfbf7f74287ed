//! Which controls each report gives evidence for. A starting point for auditors, not a
//! compliance claim: PCI DSS v4.0 requirement 6.3.3 (security patches installed, critical
//! ones within one month), NIST SP 800-53 rev. 5 SI-2 (flaw remediation) and its
//! enhancements, and CIS Controls v8 safeguards 7.3 to 7.7 (patch management, remediation).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// `PCI DSS 4.0`, `NIST SP 800-53 r5` or `CIS Controls v8`.
    pub framework: String,
    pub id: String,
    pub title: String,
}

const PCI_633: (&str, &str, &str) = (
    "PCI DSS 4.0",
    "6.3.3",
    "System components are protected from known vulnerabilities by installing applicable security patches/updates",
);
const SI_2: (&str, &str, &str) = ("NIST SP 800-53 r5", "SI-2", "Flaw Remediation");
const SI_2_2: (&str, &str, &str) = (
    "NIST SP 800-53 r5",
    "SI-2(2)",
    "Flaw Remediation | Automated Flaw Remediation Status",
);
const SI_2_3: (&str, &str, &str) = (
    "NIST SP 800-53 r5",
    "SI-2(3)",
    "Flaw Remediation | Time to Remediate Flaws and Benchmarks for Corrective Actions",
);
const CIS_73: (&str, &str, &str) = (
    "CIS Controls v8",
    "7.3",
    "Perform Automated Operating System Patch Management",
);
const CIS_74: (&str, &str, &str) = (
    "CIS Controls v8",
    "7.4",
    "Perform Automated Application Patch Management",
);
const CIS_75: (&str, &str, &str) = (
    "CIS Controls v8",
    "7.5",
    "Perform Automated Vulnerability Scans of Internal Enterprise Assets",
);
const CIS_77: (&str, &str, &str) = (
    "CIS Controls v8",
    "7.7",
    "Remediate Detected Vulnerabilities",
);

/// The controls the report `name` gives evidence for (empty for an unknown name).
pub fn for_report(name: &str) -> Vec<Control> {
    let list: &[(&str, &str, &str)] = match name {
        "compliance_by_patch_group"
        | "compliance_by_baseline"
        | "compliance_by_operating_system"
        | "compliance_by_account_region" => &[PCI_633, SI_2, SI_2_2, CIS_73, CIS_74],
        "missing_critical_patches" => &[PCI_633, SI_2, CIS_73, CIS_77],
        "cve_exposure" => &[PCI_633, SI_2, CIS_77],
        "stale_and_unreported" => &[SI_2_2, CIS_75],
        "baseline_drift" => &[SI_2, CIS_73],
        "maintenance_window_context" => &[SI_2, CIS_73, CIS_74],
        "compliance_trend" => &[SI_2_2, SI_2_3, CIS_77],
        "days_missing" => &[PCI_633, SI_2_3, CIS_77],
        _ => &[],
    };
    list.iter()
        .map(|(framework, id, title)| Control {
            framework: (*framework).to_owned(),
            id: (*id).to_owned(),
            title: (*title).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_report_maps_to_si_2_or_cis_7() {
        for r in patchlake_query::list_reports() {
            let c = super::for_report(r.name);
            assert!(
                c.iter().any(|c| c.id.starts_with("SI-2"))
                    && c.iter().any(|c| c.id.starts_with("7.")),
                "{}: {c:?}",
                r.name
            );
        }
    }
}
