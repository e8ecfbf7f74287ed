//! Patch baselines and the approval logic that decides a patch's compliance level.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::catalog::{self, CatalogPatch};
use super::platform::{OperatingSystem, Platform};

/// `ComplianceLevel` of an approval rule (and of `ApprovedPatchesComplianceLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceLevel {
    Critical,
    High,
    Medium,
    Low,
    Informational,
    Unspecified,
}

impl ComplianceLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceLevel::Critical => "CRITICAL",
            ComplianceLevel::High => "HIGH",
            ComplianceLevel::Medium => "MEDIUM",
            ComplianceLevel::Low => "LOW",
            ComplianceLevel::Informational => "INFORMATIONAL",
            ComplianceLevel::Unspecified => "UNSPECIFIED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BaselineOwner {
    /// AWS predefined: id is an ARN owned by a per-region AWS account.
    Aws,
    /// Created in the account: id is `pb-<17 hex>`.
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectedPatchesAction {
    AllowAsDependency,
    Block,
}

impl RejectedPatchesAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectedPatchesAction::AllowAsDependency => "ALLOW_AS_DEPENDENCY",
            RejectedPatchesAction::Block => "BLOCK",
        }
    }
}

/// One `PatchFilter` (Key plus Values) of a filter group or of GlobalFilters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchFilter {
    pub key: String,
    pub values: Vec<String>,
}

impl PatchFilter {
    pub(crate) fn new(key: &str, values: &[&str]) -> Self {
        PatchFilter {
            key: key.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }
}

/// One approval rule (`PatchRule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchRule {
    pub filters: Vec<PatchFilter>,
    pub compliance_level: ComplianceLevel,
    pub approve_after_days: Option<u32>,
    /// `YYYY-MM-DD`, set instead of `approve_after_days` on some rules.
    pub approve_until_date: Option<String>,
    pub enable_non_security: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub id: String,
    pub name: String,
    pub operating_system: OperatingSystem,
    pub owner: BaselineOwner,
    pub description: String,
    pub global_filters: Vec<PatchFilter>,
    pub rules: Vec<PatchRule>,
    pub approved_patches: Vec<String>,
    pub approved_patches_compliance_level: ComplianceLevel,
    pub approved_patches_enable_non_security: bool,
    pub rejected_patches: Vec<String>,
    pub rejected_patches_action: RejectedPatchesAction,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// Patch groups registered to this baseline in its account-region, sorted.
    pub patch_groups: Vec<String>,
}

impl Baseline {
    /// The compliance level a patch gets under this baseline, or `None` if the baseline does
    /// not approve it.
    ///
    /// Order, as Patch Manager applies it: rejected patches are never approved; explicitly
    /// approved patches get `ApprovedPatchesComplianceLevel`; otherwise the patch must pass
    /// every GlobalFilter and then the first approval rule whose filters all match and whose
    /// ApproveAfterDays / ApproveUntilDate has been reached gives the level.
    pub(crate) fn compliance_level(
        &self,
        platform: Platform,
        patch: &CatalogPatch,
        today: NaiveDate,
    ) -> Option<ComplianceLevel> {
        let names = [
            patch.package.as_str(),
            patch.kb_id.as_str(),
            patch.title.as_str(),
        ];
        if self
            .rejected_patches
            .iter()
            .any(|pattern| names.iter().any(|n| glob_match(pattern, n)))
        {
            return None;
        }
        if self
            .approved_patches
            .iter()
            .any(|pattern| names.iter().any(|n| glob_match(pattern, n)))
        {
            return Some(self.approved_patches_compliance_level);
        }
        if !self
            .global_filters
            .iter()
            .all(|f| filter_matches(f, platform, patch))
        {
            return None;
        }
        self.rules
            .iter()
            .find(|rule| {
                rule.filters
                    .iter()
                    .all(|f| filter_matches(f, platform, patch))
                    && rule_date_reached(rule, patch.released, today)
            })
            .map(|rule| rule.compliance_level)
    }

    /// Catalogue indices of the advisories this baseline approves for `platform`, with their
    /// compliance level, in catalogue order: the candidates for non-compliant patch records.
    pub(crate) fn approved_advisories(
        &self,
        platform: Platform,
        today: NaiveDate,
    ) -> Vec<(u32, ComplianceLevel)> {
        catalog::catalog(platform)
            .patches
            .iter()
            .enumerate()
            .filter(|(_, p)| p.advisory)
            .filter_map(|(i, p)| {
                self.compliance_level(platform, p, today)
                    .map(|level| (i as u32, level))
            })
            .collect()
    }
}

fn rule_date_reached(rule: &PatchRule, released: NaiveDate, today: NaiveDate) -> bool {
    if let Some(until) = &rule.approve_until_date {
        return NaiveDate::parse_from_str(until, "%Y-%m-%d")
            .map(|d| released <= d)
            .unwrap_or(false);
    }
    let days = i64::from(rule.approve_after_days.unwrap_or(0));
    (today - released).num_days() >= days
}

/// Debian-family PRIORITY derived from the simulator's severity scale.
fn ubuntu_priority(severity: &str) -> &'static str {
    match severity {
        "Critical" => "Required",
        "Important" => "Important",
        "Medium" => "Standard",
        _ => "Optional",
    }
}

fn filter_matches(filter: &PatchFilter, platform: Platform, patch: &CatalogPatch) -> bool {
    let value = match filter.key.as_str() {
        "PRODUCT" => platform.product(),
        "CLASSIFICATION" => patch.classification,
        "SEVERITY" | "MSRC_SEVERITY" => patch.severity,
        "PRIORITY" => ubuntu_priority(patch.severity),
        // SECTION, PATCH_SET, PRODUCT_FAMILY, …: the simulator's patches carry no such
        // property, so the filter passes.
        _ => return true,
    };
    filter.values.iter().any(|v| v == "*" || v == value)
}

/// `*` wildcard match, as used by ApprovedPatches / RejectedPatches entries.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

/// Whether `classification` counts towards SecurityNonCompliantCount.
pub fn is_security_classification(classification: &str) -> bool {
    catalog::is_security_classification(classification)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match(
            "system-release.*",
            "system-release.x86_64:0:2-1"
        ));
        assert!(!glob_match("system-release.*", "kernel.x86_64"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("KB5034439", "KB5034439"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }
}
