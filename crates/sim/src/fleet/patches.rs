//! Lazily generated per-instance lists: patch records and inventory applications.
//!
//! Records are a pure function of (seed, account, region, instance index) and the counts
//! fixed at generation: the non-compliant part (Missing, Failed, InstalledPendingReboot) is
//! drawn from its own stream so that generation can derive the critical/security counts
//! without producing the hundreds of installed records.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::index;
use serde::Serialize;

use super::baseline::ComplianceLevel;
use super::catalog::{self, CatalogPatch};
use super::{AccountRegion, Fleet, Instance, PatchCounts};
use crate::keys::Key;

/// `State` of a `PatchComplianceData` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatchComplianceState {
    Installed,
    InstalledOther,
    InstalledPendingReboot,
    InstalledRejected,
    Missing,
    NotApplicable,
    Failed,
}

impl PatchComplianceState {
    pub const ALL: [PatchComplianceState; 7] = [
        PatchComplianceState::Installed,
        PatchComplianceState::InstalledOther,
        PatchComplianceState::InstalledPendingReboot,
        PatchComplianceState::InstalledRejected,
        PatchComplianceState::Missing,
        PatchComplianceState::NotApplicable,
        PatchComplianceState::Failed,
    ];

    /// Wire value, e.g. `INSTALLED_PENDING_REBOOT`.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchComplianceState::Installed => "INSTALLED",
            PatchComplianceState::InstalledOther => "INSTALLED_OTHER",
            PatchComplianceState::InstalledPendingReboot => "INSTALLED_PENDING_REBOOT",
            PatchComplianceState::InstalledRejected => "INSTALLED_REJECTED",
            PatchComplianceState::Missing => "MISSING",
            PatchComplianceState::NotApplicable => "NOT_APPLICABLE",
            PatchComplianceState::Failed => "FAILED",
        }
    }

    /// Accepts the wire value and the CamelCase form used in DescribeInstancePatches filters
    /// (`InstalledPendingReboot`), case-insensitively.
    pub fn parse(s: &str) -> Option<PatchComplianceState> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        PatchComplianceState::ALL
            .into_iter()
            .find(|st| st.as_str().replace('_', "") == norm)
    }

    pub fn is_non_compliant(self) -> bool {
        matches!(
            self,
            PatchComplianceState::Missing
                | PatchComplianceState::Failed
                | PatchComplianceState::InstalledPendingReboot
        )
    }

    pub(crate) fn count_in(self, counts: &PatchCounts) -> u32 {
        match self {
            PatchComplianceState::Installed => counts.installed,
            PatchComplianceState::InstalledOther => counts.installed_other,
            PatchComplianceState::InstalledPendingReboot => counts.installed_pending_reboot,
            PatchComplianceState::InstalledRejected => counts.installed_rejected,
            PatchComplianceState::Missing => counts.missing,
            PatchComplianceState::NotApplicable => counts.not_applicable,
            PatchComplianceState::Failed => counts.failed,
        }
    }
}

/// One DescribeInstancePatches record (`PatchComplianceData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchRecord {
    pub title: String,
    pub kb_id: String,
    pub classification: String,
    pub severity: String,
    pub state: PatchComplianceState,
    /// `None` for patches that are not installed (sent as epoch 0 on the wire).
    pub installed_time: Option<DateTime<Utc>>,
    /// Comma-separated CVE ids, empty when the patch fixes none.
    pub cve_ids: String,
}

/// A record pointing into the static catalogue; what the server serialises.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRef {
    pub patch: &'static CatalogPatch,
    /// Position in the platform catalogue: the records' listing order.
    pub catalog_index: u32,
    pub state: PatchComplianceState,
    /// Epoch seconds, 0 when not installed.
    pub installed_time: i64,
}

impl RecordRef {
    pub(crate) fn to_record(self) -> PatchRecord {
        PatchRecord {
            title: self.patch.title.clone(),
            kb_id: self.patch.kb_id.clone(),
            classification: self.patch.classification.to_string(),
            severity: self.patch.severity.to_string(),
            state: self.state,
            installed_time: (self.installed_time != 0)
                .then(|| DateTime::from_timestamp(self.installed_time, 0))
                .flatten(),
            cve_ids: self.patch.cve_ids.clone(),
        }
    }
}

pub(super) fn nc_key(seed: u64, ar: &AccountRegion, index: u32) -> Key {
    Key::new(seed)
        .str("non-compliant")
        .str(&ar.account_id)
        .str(&ar.region)
        .num(u64::from(index))
}

fn rest_key(seed: u64, ar: &AccountRegion, index: u32) -> Key {
    Key::new(seed)
        .str("patches")
        .str(&ar.account_id)
        .str(&ar.region)
        .num(u64::from(index))
}

/// Picks the Missing, Failed and InstalledPendingReboot patches, in that order, from the
/// baseline's approved advisories. Counts must already fit `candidates`.
pub(super) fn non_compliant_selection(
    key: Key,
    candidates: &[(u32, ComplianceLevel)],
    counts: &PatchCounts,
) -> Vec<(u32, ComplianceLevel, PatchComplianceState)> {
    let total = counts.non_compliant() as usize;
    if total == 0 {
        return Vec::new();
    }
    let mut rng = key.rng();
    let picks = index::sample(&mut rng, candidates.len(), total);
    let states = std::iter::repeat_n(PatchComplianceState::Missing, counts.missing as usize)
        .chain(std::iter::repeat_n(
            PatchComplianceState::Failed,
            counts.failed as usize,
        ))
        .chain(std::iter::repeat_n(
            PatchComplianceState::InstalledPendingReboot,
            counts.installed_pending_reboot as usize,
        ));
    picks
        .iter()
        .zip(states)
        .map(|(i, state)| (candidates[i].0, candidates[i].1, state))
        .collect()
}

pub(super) fn record_refs(
    fleet: &Fleet,
    ar: &AccountRegion,
    instance: &Instance,
) -> Vec<RecordRef> {
    let Some(state) = &instance.patch_state else {
        return Vec::new();
    };
    let seed = fleet.spec.seed;
    let catalog = catalog::catalog(instance.platform);
    let baseline = &ar.baselines[state.baseline];
    let candidates =
        baseline.approved_advisories(instance.platform, fleet.spec.anchor.date_naive());
    let counts = &state.counts;
    let nc = non_compliant_selection(nc_key(seed, ar, instance.index), &candidates, counts);

    let mut rng = rest_key(seed, ar, instance.index).rng();
    let end = state.operation_end.timestamp();
    let mut records: Vec<RecordRef> = Vec::with_capacity(counts.records() as usize);
    for &(i, _, st) in &nc {
        let installed_time = match st {
            PatchComplianceState::InstalledPendingReboot => end - rng.random_range(30..1800),
            _ => 0,
        };
        records.push(RecordRef {
            patch: &catalog.patches[i as usize],
            catalog_index: i,
            state: st,
            installed_time,
        });
    }

    let rest_states = [
        PatchComplianceState::Installed,
        PatchComplianceState::InstalledOther,
        PatchComplianceState::InstalledRejected,
        PatchComplianceState::NotApplicable,
    ];
    let rest: usize = rest_states
        .iter()
        .map(|s| s.count_in(counts) as usize)
        .sum();
    let taken: Vec<u32> = nc.iter().map(|(i, _, _)| *i).collect();
    let picks = index::sample(&mut rng, catalog.patches.len(), rest + taken.len());
    let mut free = picks
        .iter()
        .map(|i| i as u32)
        .filter(|i| !taken.contains(i));
    for st in rest_states {
        for _ in 0..st.count_in(counts) {
            let i = free.next().expect("catalogue sized at generation");
            let installed_time = match st {
                PatchComplianceState::NotApplicable => 0,
                _ => end - rng.random_range(3600..400 * 86_400),
            };
            records.push(RecordRef {
                patch: &catalog.patches[i as usize],
                catalog_index: i,
                state: st,
                installed_time,
            });
        }
    }
    // Stable order independent of the sampling order: catalogue order.
    records.sort_by_key(|r| r.catalog_index);
    records
}

/// One `AWS:Application` inventory entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Application {
    pub name: String,
    pub version: String,
    /// Linux package release; empty on Windows.
    pub release: String,
    pub publisher: String,
    pub application_type: String,
    pub architecture: String,
    pub installed_time: DateTime<Utc>,
}

const WINDOWS_APPS: [(&str, &str, &str); 24] = [
    ("Amazon SSM Agent", "Amazon Web Services", "3.3.1957.0"),
    (
        "AWS Tools for Windows",
        "Amazon Web Services Developer Relations",
        "4.1.600",
    ),
    ("AWS PV Drivers", "Amazon Web Services", "8.4.3"),
    ("Amazon CloudWatch Agent", "Amazon.com, Inc.", "1.300044.0"),
    ("aws-cfn-bootstrap", "Amazon Web Services", "2.0.29"),
    ("EC2Launch v2", "Amazon Web Services", "2.0.1924"),
    ("Microsoft Edge", "Microsoft Corporation", "130.0.2849.68"),
    (
        "Microsoft Edge Update",
        "Microsoft Corporation",
        "1.3.195.31",
    ),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x64)",
        "Microsoft Corporation",
        "14.40.33810.0",
    ),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x86)",
        "Microsoft Corporation",
        "14.40.33810.0",
    ),
    (
        "Microsoft .NET Runtime - 8.0.10 (x64)",
        "Microsoft Corporation",
        "8.0.10.34118",
    ),
    (
        "Microsoft ASP.NET Core 8.0.10 - Shared Framework (x64)",
        "Microsoft Corporation",
        "8.0.10.24466",
    ),
    (
        "Microsoft SQL Server 2019 (64-bit)",
        "Microsoft Corporation",
        "15.0.4390.2",
    ),
    (
        "Microsoft ODBC Driver 17 for SQL Server",
        "Microsoft Corporation",
        "17.10.6.1",
    ),
    ("Google Chrome", "Google LLC", "131.0.6778.86"),
    ("Mozilla Firefox (x64 en-US)", "Mozilla", "132.0.2"),
    ("7-Zip 24.08 (x64)", "Igor Pavlov", "24.08"),
    ("Notepad++ (64-bit x64)", "Notepad++ Team", "8.7.1"),
    ("Git", "The Git Development Community", "2.47.0"),
    ("PowerShell 7-x64", "Microsoft Corporation", "7.4.6.0"),
    (
        "Python 3.12.7 (64-bit)",
        "Python Software Foundation",
        "3.12.7150.0",
    ),
    (
        "Java 8 Update 431 (64-bit)",
        "Oracle Corporation",
        "8.0.4310.10",
    ),
    ("Splunk Universal Forwarder", "Splunk, Inc.", "9.3.1.0"),
    (
        "CrowdStrike Windows Sensor",
        "CrowdStrike, Inc.",
        "7.18.18710.0",
    ),
];

pub(super) fn applications(
    fleet: &Fleet,
    ar: &AccountRegion,
    instance: &Instance,
) -> Vec<Application> {
    let mut rng = Key::new(fleet.spec.seed)
        .str("inventory")
        .str(&ar.account_id)
        .str(&ar.region)
        .num(u64::from(instance.index))
        .rng();
    let anchor = fleet.spec.anchor;
    let installed = |rng: &mut rand_chacha::ChaCha8Rng| {
        anchor - Duration::seconds(rng.random_range(86_400..700 * 86_400))
    };
    if instance.platform.is_windows() {
        let n = rng.random_range(12..=WINDOWS_APPS.len());
        let mut picks = index::sample(&mut rng, WINDOWS_APPS.len(), n).into_vec();
        picks.sort_unstable();
        return picks
            .into_iter()
            .map(|i| {
                let (name, publisher, version) = WINDOWS_APPS[i];
                Application {
                    name: name.to_string(),
                    version: version.to_string(),
                    release: String::new(),
                    publisher: publisher.to_string(),
                    application_type: String::new(),
                    architecture: if name.contains("x86") {
                        "i386"
                    } else {
                        "x86_64"
                    }
                    .to_string(),
                    installed_time: installed(&mut rng),
                }
            })
            .collect();
    }
    let publisher = match instance.platform {
        super::Platform::AmazonLinux2 | super::Platform::AmazonLinux2023 => "Amazon Linux",
        super::Platform::Rhel8 | super::Platform::Rhel9 => "Red Hat, Inc.",
        super::Platform::Sles15 => "SUSE LLC <https://www.suse.com/>",
        _ => "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
    };
    // Installed packages come from the platform catalogue, one version per package.
    let catalog = catalog::catalog(instance.platform);
    let n = rng.random_range(30..=90).min(catalog.patches.len());
    let mut picks = index::sample(&mut rng, catalog.patches.len(), n).into_vec();
    picks.sort_unstable();
    let mut seen = std::collections::BTreeSet::new();
    picks
        .into_iter()
        .filter_map(|i| {
            let p = &catalog.patches[i];
            if !seen.insert(p.package.as_str()) {
                return None;
            }
            let (version, release, arch) = split_linux_title(&p.title);
            Some(Application {
                name: p.package.clone(),
                version,
                release,
                publisher: publisher.to_string(),
                application_type: if p.package.starts_with("python3") {
                    "Development/Languages"
                } else if p.package.starts_with("lib") {
                    "System Environment/Libraries"
                } else {
                    "System Environment/Base"
                }
                .to_string(),
                architecture: arch,
                installed_time: installed(&mut rng),
            })
        })
        .collect()
}

/// Splits `name.arch:epoch:version-release` (or `name.arch:version-release`).
fn split_linux_title(title: &str) -> (String, String, String) {
    let (head, tail) = title.split_once(':').unwrap_or((title, ""));
    let arch = head.rsplit_once('.').map(|(_, a)| a).unwrap_or("x86_64");
    let tail = match tail.split_once(':') {
        Some((epoch, rest)) if epoch.chars().all(|c| c.is_ascii_digit()) => rest,
        _ => tail,
    };
    let (version, release) = tail.split_once('-').unwrap_or((tail, ""));
    (version.to_string(), release.to_string(), arch.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_parse_accepts_both_spellings() {
        assert_eq!(
            PatchComplianceState::parse("InstalledPendingReboot"),
            Some(PatchComplianceState::InstalledPendingReboot)
        );
        assert_eq!(
            PatchComplianceState::parse("NOT_APPLICABLE"),
            Some(PatchComplianceState::NotApplicable)
        );
        assert_eq!(PatchComplianceState::parse("Bogus"), None);
    }

    #[test]
    fn linux_title_split() {
        let (v, r, a) = split_linux_title("openssl-libs.x86_64:0:3.0.12-1.amzn2.0.3");
        assert_eq!(
            (v.as_str(), r.as_str(), a.as_str()),
            ("3.0.12", "1.amzn2.0.3", "x86_64")
        );
    }
}
