//! Expected inventory: the `AWS:Application` rows a complete collection must find, computed
//! from the fleet directly (not from the server's responses).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::fleet::Fleet;

/// One installed application of one instance, with the fields the lake keeps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ApplicationRow {
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    pub name: String,
    pub version: String,
    pub publisher: String,
    pub architecture: String,
}

/// The fleet's inventory, in total and per (account, region).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InventoryTruth {
    pub applications: u64,
    pub by_account_region: BTreeMap<(String, String), u64>,
    /// Instances that report inventory.
    pub instances: u64,
}

impl Fleet {
    /// Every `AWS:Application` row of every instance in enabled account-regions, sorted.
    pub fn application_rows(&self) -> Vec<ApplicationRow> {
        let mut rows = Vec::new();
        for ar in self.account_regions() {
            for i in &ar.instances {
                let apps = self
                    .instance_applications(&ar.account_id, &ar.region, &i.instance_id)
                    .unwrap_or_default();
                rows.extend(apps.into_iter().map(|a| ApplicationRow {
                    account_id: ar.account_id.clone(),
                    region: ar.region.clone(),
                    instance_id: i.instance_id.clone(),
                    name: a.name,
                    version: a.version,
                    publisher: a.publisher,
                    architecture: a.architecture,
                }));
            }
        }
        rows.sort();
        rows
    }

    /// Counts of [`Fleet::application_rows`].
    pub fn inventory_truth(&self) -> InventoryTruth {
        let mut t = InventoryTruth::default();
        for ar in self.account_regions() {
            let mut n = 0;
            for i in &ar.instances {
                n += self
                    .instance_applications(&ar.account_id, &ar.region, &i.instance_id)
                    .map_or(0, |a| a.len() as u64);
                t.instances += 1;
            }
            t.applications += n;
            if !ar.instances.is_empty() {
                t.by_account_region
                    .insert((ar.account_id.clone(), ar.region.clone()), n);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use crate::fleet::{Fleet, FleetSpec, RegionOptStatus};

    #[test]
    fn rows_and_counts_agree_and_disabled_regions_are_empty() {
        let spec = FleetSpec {
            accounts: 2,
            regions: vec!["us-east-1".into(), "af-south-1".into()],
            instances_per_region: 20,
            opt_in_regions: vec!["af-south-1".into()],
            region_opt_in: vec![(1, "af-south-1".into(), RegionOptStatus::Enabled)],
            ..FleetSpec::default()
        };
        let fleet = Fleet::generate(&spec);
        let t = fleet.inventory_truth();
        assert_eq!(fleet.application_rows().len() as u64, t.applications);
        assert_eq!(
            t.by_account_region.len(),
            3,
            "account 0 has not enabled af-south-1"
        );
        assert_eq!(t.instances, 60);
        let a0 = &fleet.accounts()[0].id;
        assert!(!fleet.region_enabled(a0, "af-south-1"));
        assert!(fleet.region_enabled(&fleet.accounts()[1].id, "af-south-1"));
        assert!(
            fleet
                .account_region(a0, "af-south-1")
                .expect("generated")
                .instances
                .is_empty()
        );
    }
}
