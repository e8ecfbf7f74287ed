//! Deterministic task outputs for the tests.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use chrono::{Duration, TimeZone, Utc};
use patchlake_model::records::*;
use patchlake_model::{RunId, Table};

pub fn run_id(hour: u32) -> RunId {
    RunId::new(
        Utc.with_ymd_and_hms(2026, 11, 25, hour, 0, 0).unwrap(),
        0xabc0 + hour,
    )
}

/// One account-region with `instances` instances (generated in descending id order, so the
/// lake has to sort them) and `patches` patches each.
pub fn task(
    account: &str,
    region: &str,
    instances: usize,
    patches: usize,
    status: CoverageStatus,
) -> TaskOutput {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let coverage = Coverage {
        account_id: account.into(),
        region: region.into(),
        status,
        error_code: None,
        error_message: None,
        api_calls: 10,
        throttled_calls: 0,
        retries: 0,
        started_at: t0,
        finished_at: t0 + Duration::seconds(5),
        instances: instances as i64,
    };
    let mut out = TaskOutput::empty(coverage);
    for i in (0..instances).rev() {
        let instance_id = format!("i-{i:017x}");
        out.instances.push(Instance {
            account_id: account.into(),
            region: region.into(),
            instance_id: instance_id.clone(),
            platform_type: Some("Linux".into()),
            platform_name: Some("Amazon Linux".into()),
            platform_version: Some("2023".into()),
            operating_system: Some("AMAZON_LINUX_2023".into()),
            patch_group: (i % 2 == 0).then(|| "web".to_owned()),
            tags: BTreeMap::from([("Name".into(), format!("host-{i}"))]),
            ..Default::default()
        });
        out.patch_states.push(PatchState {
            account_id: account.into(),
            region: region.into(),
            instance_id: instance_id.clone(),
            missing: (i % 3) as i32,
            operation_end_at: Some(t0),
            ..Default::default()
        });
        for p in (0..patches).rev() {
            out.instance_patches.push(InstancePatch {
                account_id: account.into(),
                region: region.into(),
                instance_id: instance_id.clone(),
                title: format!("pkg-{p:04}"),
                state: if p % 5 == 0 { "Missing" } else { "Installed" }.into(),
                severity: Some("Critical".into()),
                cve_ids: vec![format!("CVE-2026-{p:04}")],
                ..Default::default()
            });
        }
    }
    out.baselines.push(Baseline {
        account_id: account.into(),
        region: region.into(),
        baseline_id: "pb-0000000000000001".into(),
        operating_system: Some("AMAZON_LINUX_2023".into()),
        is_default: true,
        ..Default::default()
    });
    out
}

/// The values of the sort columns of `table` in `batch`, row by row.
pub fn sort_keys(table: Table, batch: &RecordBatch) -> Vec<Vec<String>> {
    use arrow::array::AsArray;
    let columns: Vec<_> = table
        .sort_columns()
        .iter()
        .map(|c| batch.column_by_name(c).unwrap().as_string::<i32>().clone())
        .collect();
    (0..batch.num_rows())
        .map(|r| columns.iter().map(|c| c.value(r).to_owned()).collect())
        .collect()
}
