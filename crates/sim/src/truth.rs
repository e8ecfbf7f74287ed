//! Expected aggregates computed straight from the generated fleet, with no SQL and no wire
//! protocol in between: the reference the lake and the reports are checked against.
//!
//! Definitions (every count is a `u64`):
//! - An instance's status, decided in this order: `inactive` if `exclude_inactive` (the
//!   default) and its PingStatus, as the SSM API reports it, is `ConnectionLost` (stopped or
//!   unreachable) or `Inactive` (terminated or deregistered); `unreported` if it has no patch
//!   state; `stale` if its OperationEndTime < `now − stale_after`; `non_compliant` if
//!   Missing + Failed + InstalledPendingReboot > 0; else `compliant`. Exactly one applies.
//! - `inactive` instances are counted apart: `instances = compliant + non_compliant + stale +
//!   unreported` leaves them out, and so do the patch sums.
//! - `missing`, `failed`, `installed_pending_reboot`, `critical_non_compliant` and
//!   `security_non_compliant` sum the patch-state counts of every counted instance that has
//!   a patch state, stale ones included.
//! - A non-compliant patch is one in state Missing, Failed or InstalledPendingReboot; it is
//!   critical when the compliance level the reporting baseline gives it is CRITICAL, and
//!   security when its classification is `Security` (Linux) or `SecurityUpdates` /
//!   `CriticalUpdates` (Windows). OtherNonCompliantCount = non-compliant − security.
//! - `by_patch_group` is keyed by the `Patch Group` tag value, `(none)` for untagged
//!   instances. `by_baseline` is keyed by the *effective* baseline id: the baseline registered
//!   for (patch group, instance OS) in the instance's account-region, else that
//!   account-region's default baseline for the OS. It ignores drift (a patch state reporting
//!   another baseline id). Custom baseline ids are unique per account-region; AWS predefined
//!   ARNs are shared by all accounts of a region.
//! - `patch_records` counts the records DescribeInstancePatches lists: the sum of every state
//!   count except UnreportedNotApplicableCount, which has no records.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::fleet::{Fleet, Instance};

/// Key used in `by_patch_group` for instances without a `Patch Group` tag.
pub const NO_PATCH_GROUP: &str = "(none)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruthOptions {
    pub now: DateTime<Utc>,
    pub stale_after: Duration,
    /// Count stopped, unreachable and terminated instances apart (`report.exclude_inactive`).
    pub exclude_inactive: bool,
}

impl TruthOptions {
    /// Evaluate at `now` with the report defaults: a 7-day staleness window, inactive
    /// instances counted apart.
    pub fn at(now: DateTime<Utc>) -> Self {
        TruthOptions {
            now,
            stale_after: Duration::days(7),
            exclude_inactive: true,
        }
    }
}

/// The PingStatus values that mean the instance is not running an agent that answers:
/// `ConnectionLost` (EC2 stopped, or the agent unreachable) and `Inactive` (terminated or
/// deregistered). Decided on the value the SSM API reports, as the SQL definition does.
pub const INACTIVE_PING_STATUSES: [&str; 2] = ["ConnectionLost", "Inactive"];

impl Default for TruthOptions {
    fn default() -> Self {
        TruthOptions::at(Utc::now())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    Compliant,
    NonCompliant,
    Stale,
    Unreported,
    Inactive,
}

impl InstanceStatus {
    pub fn of(instance: &Instance, opts: &TruthOptions) -> InstanceStatus {
        if opts.exclude_inactive && INACTIVE_PING_STATUSES.contains(&instance.ping_status.as_str())
        {
            return InstanceStatus::Inactive;
        }
        match &instance.patch_state {
            None => InstanceStatus::Unreported,
            Some(s) if s.operation_end < opts.now - opts.stale_after => InstanceStatus::Stale,
            Some(s) if s.counts.non_compliant() > 0 => InstanceStatus::NonCompliant,
            Some(_) => InstanceStatus::Compliant,
        }
    }
}

/// Compliance aggregate over a set of instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Agg {
    pub instances: u64,
    pub compliant: u64,
    pub non_compliant: u64,
    pub stale: u64,
    pub unreported: u64,
    /// Counted apart: in no other field.
    pub inactive: u64,
    pub missing: u64,
    pub failed: u64,
    pub installed_pending_reboot: u64,
    pub critical_non_compliant: u64,
    pub security_non_compliant: u64,
}

impl Agg {
    fn add(&mut self, instance: &Instance, status: InstanceStatus) {
        if status == InstanceStatus::Inactive {
            self.inactive += 1;
            return;
        }
        self.instances += 1;
        match status {
            InstanceStatus::Compliant => self.compliant += 1,
            InstanceStatus::NonCompliant => self.non_compliant += 1,
            InstanceStatus::Stale => self.stale += 1,
            InstanceStatus::Unreported => self.unreported += 1,
            InstanceStatus::Inactive => unreachable!("returned above"),
        }
        if let Some(s) = &instance.patch_state {
            self.missing += u64::from(s.counts.missing);
            self.failed += u64::from(s.counts.failed);
            self.installed_pending_reboot += u64::from(s.counts.installed_pending_reboot);
            self.critical_non_compliant += u64::from(s.critical_non_compliant);
            self.security_non_compliant += u64::from(s.security_non_compliant);
        }
    }

    fn merge(&mut self, other: &Agg) {
        self.instances += other.instances;
        self.compliant += other.compliant;
        self.non_compliant += other.non_compliant;
        self.stale += other.stale;
        self.unreported += other.unreported;
        self.inactive += other.inactive;
        self.missing += other.missing;
        self.failed += other.failed;
        self.installed_pending_reboot += other.installed_pending_reboot;
        self.critical_non_compliant += other.critical_non_compliant;
        self.security_non_compliant += other.security_non_compliant;
    }
}

/// Inventory totals of one account-region (or of the whole fleet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub instances: u64,
    /// Instances with a patch state (rows DescribeInstancePatchStates returns).
    pub patch_states: u64,
    /// DescribeInstancePatches records over all instances.
    pub patch_records: u64,
    /// Baselines DescribePatchBaselines lists (AWS predefined and custom).
    pub baselines: u64,
    /// (patch group, baseline) mappings DescribePatchGroups lists.
    pub patch_group_registrations: u64,
}

impl Totals {
    fn merge(&mut self, other: &Totals) {
        self.instances += other.instances;
        self.patch_states += other.patch_states;
        self.patch_records += other.patch_records;
        self.baselines += other.baselines;
        self.patch_group_registrations += other.patch_group_registrations;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRegionTruth {
    pub totals: Totals,
    pub compliance: Agg,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Truth {
    pub now: DateTime<Utc>,
    pub stale_after_seconds: i64,
    pub totals: Totals,
    pub compliance: Agg,
    pub by_patch_group: BTreeMap<String, Agg>,
    pub by_baseline: BTreeMap<String, Agg>,
    /// Baseline id → name, for every key of `by_baseline`.
    pub baseline_names: BTreeMap<String, String>,
    /// Keyed by the SSM OperatingSystem value, e.g. `AMAZON_LINUX_2`.
    pub by_operating_system: BTreeMap<String, Agg>,
    pub by_account: BTreeMap<String, Agg>,
    /// account id → region → totals and compliance.
    pub by_account_region: BTreeMap<String, BTreeMap<String, AccountRegionTruth>>,
}

impl Fleet {
    pub fn truth(&self, opts: &TruthOptions) -> Truth {
        let mut truth = Truth {
            now: opts.now,
            stale_after_seconds: opts.stale_after.num_seconds(),
            totals: Totals::default(),
            compliance: Agg::default(),
            by_patch_group: BTreeMap::new(),
            by_baseline: BTreeMap::new(),
            baseline_names: BTreeMap::new(),
            by_operating_system: BTreeMap::new(),
            by_account: BTreeMap::new(),
            by_account_region: BTreeMap::new(),
        };
        for ar in self.account_regions() {
            let mut totals = Totals {
                instances: ar.instances.len() as u64,
                baselines: ar.baselines.len() as u64,
                patch_group_registrations: ar.registrations.len() as u64,
                ..Totals::default()
            };
            let mut compliance = Agg::default();
            for instance in &ar.instances {
                let status = InstanceStatus::of(instance, opts);
                if let Some(s) = &instance.patch_state {
                    totals.patch_states += 1;
                    totals.patch_records += s.counts.records();
                }
                compliance.add(instance, status);
                let group = instance.patch_group.unwrap_or(NO_PATCH_GROUP);
                truth
                    .by_patch_group
                    .entry(group.to_string())
                    .or_default()
                    .add(instance, status);
                let os = instance.operating_system();
                let baseline = &ar.baselines[ar.effective_baseline(instance.patch_group, os)];
                truth
                    .by_baseline
                    .entry(baseline.id.clone())
                    .or_default()
                    .add(instance, status);
                truth
                    .baseline_names
                    .entry(baseline.id.clone())
                    .or_insert_with(|| baseline.name.clone());
                truth
                    .by_operating_system
                    .entry(os.as_str().to_string())
                    .or_default()
                    .add(instance, status);
            }
            truth.totals.merge(&totals);
            truth.compliance.merge(&compliance);
            truth
                .by_account
                .entry(ar.account_id.clone())
                .or_default()
                .merge(&compliance);
            truth
                .by_account_region
                .entry(ar.account_id.clone())
                .or_default()
                .insert(ar.region.clone(), AccountRegionTruth { totals, compliance });
        }
        truth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::FleetSpec;

    fn small() -> Fleet {
        Fleet::generate(&FleetSpec {
            accounts: 3,
            instances_per_region: 150,
            ..FleetSpec::default()
        })
    }

    fn sum<'a>(aggs: impl Iterator<Item = &'a Agg>) -> Agg {
        let mut total = Agg::default();
        for a in aggs {
            total.merge(a);
        }
        total
    }

    #[test]
    fn groupings_partition_the_fleet() {
        let fleet = small();
        let truth = fleet.truth(&TruthOptions::at(fleet.spec().anchor));
        let c = truth.compliance;
        assert_eq!(c.instances + c.inactive, fleet.instance_count() as u64);
        assert_eq!(
            c.instances,
            c.compliant + c.non_compliant + c.stale + c.unreported
        );
        assert_eq!(sum(truth.by_patch_group.values()), c);
        assert_eq!(sum(truth.by_baseline.values()), c);
        assert_eq!(sum(truth.by_operating_system.values()), c);
        assert_eq!(sum(truth.by_account.values()), c);
        assert!(truth.by_patch_group.contains_key(NO_PATCH_GROUP));
        // Every status occurs in a fleet this size.
        assert!(c.compliant > 0 && c.non_compliant > 0 && c.stale > 0 && c.unreported > 0);
        assert!(c.inactive > 0);
        assert!(c.critical_non_compliant > 0 && c.security_non_compliant > 0);
    }

    #[test]
    fn inactive_follows_the_reported_ping_status() {
        let fleet = small();
        let at = fleet.spec().anchor;
        let apart = fleet.truth(&TruthOptions::at(at));
        let all = fleet.truth(&TruthOptions {
            exclude_inactive: false,
            ..TruthOptions::at(at)
        });
        let not_online = fleet
            .account_regions()
            .iter()
            .flat_map(|ar| &ar.instances)
            .filter(|i| i.ping_status.as_str() != "Online")
            .count() as u64;
        assert!(not_online > 0);
        assert_eq!(apart.compliance.inactive, not_online);
        assert_eq!(all.compliance.inactive, 0);
        assert_eq!(all.compliance.instances, fleet.instance_count() as u64);
        assert_eq!(
            apart.compliance.instances + not_online,
            all.compliance.instances
        );
        assert!(apart.compliance.missing <= all.compliance.missing);
    }

    #[test]
    fn staleness_window_moves_instances_between_statuses() {
        let fleet = small();
        let at = fleet.spec().anchor;
        let strict = fleet.truth(&TruthOptions::at(at));
        let lax = fleet.truth(&TruthOptions {
            stale_after: Duration::days(365),
            ..TruthOptions::at(at)
        });
        assert_eq!(lax.compliance.stale, 0);
        assert!(strict.compliance.stale > 0);
        assert_eq!(strict.compliance.missing, lax.compliance.missing);
    }

    #[test]
    fn truth_serialises() {
        let fleet = small();
        let json = serde_json::to_string(&fleet.truth(&TruthOptions::at(fleet.spec().anchor)))
            .expect("serialise");
        assert!(json.contains("\"by_patch_group\""));
        assert!(json.contains("\"(none)\""));
    }
}
