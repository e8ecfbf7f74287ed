//! Simulator → collector (real SDK clients) → lake → reports, checked against the
//! simulator's truth.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use patchlake::demo::simulator_credentials;
use patchlake::pipeline::collect_run;
use patchlake_query::{AsOf, LakeQuery, ReportOptions, ReportParams};
use patchlake_sim::{Agg, TruthOptions};

use crate::harness;

/// Rows of a report as `key column value → Agg`, reading the columns the truth has.
fn aggs(batches: &[RecordBatch], key: &str) -> BTreeMap<String, Agg> {
    let mut out = BTreeMap::new();
    for b in batches {
        let col = |name: &str| -> Vec<u64> {
            let a = b
                .column_by_name(name)
                .unwrap_or_else(|| panic!("report has no column {name}"));
            let a = arrow::compute::cast(a, &arrow::datatypes::DataType::Int64).unwrap();
            let a = a.as_primitive::<Int64Type>();
            (0..a.len()).map(|i| a.value(i) as u64).collect()
        };
        let keys = arrow::compute::cast(
            b.column_by_name(key).unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let keys = keys.as_string::<i32>();
        let (instances, compliant, non_compliant, stale, unreported, inactive) = (
            col("instances"),
            col("compliant"),
            col("non_compliant"),
            col("stale"),
            col("unreported"),
            col("inactive"),
        );
        let (missing, failed, reboot, critical, security) = (
            col("missing"),
            col("failed"),
            col("installed_pending_reboot"),
            col("critical_non_compliant"),
            col("security_non_compliant"),
        );
        for i in 0..b.num_rows() {
            out.insert(
                keys.value(i).to_owned(),
                Agg {
                    instances: instances[i],
                    compliant: compliant[i],
                    non_compliant: non_compliant[i],
                    stale: stale[i],
                    unreported: unreported[i],
                    inactive: inactive[i],
                    missing: missing[i],
                    failed: failed[i],
                    installed_pending_reboot: reboot[i],
                    critical_non_compliant: critical[i],
                    security_non_compliant: security[i],
                },
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_equal_the_simulators_truth_per_patch_group_and_per_baseline() {
    let spec = harness::small_spec(7);
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config(&sim, dir.path());

    let summary = collect_run(Arc::new(config.clone()), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(summary.is_complete(), "{:?}", summary.coverage);
    assert_eq!(summary.coverage.len(), 6);

    let truth = sim.fleet().truth(&TruthOptions::at(summary.run.started_at));
    // Every row the simulator holds is in the committed run, once.
    let rows = &summary.run.row_counts;
    assert_eq!(rows["instances"] as u64, truth.totals.instances);
    assert_eq!(rows["patch_states"] as u64, truth.totals.patch_states);
    assert_eq!(rows["instance_patches"] as u64, truth.totals.patch_records);
    assert_eq!(rows["baselines"] as u64, truth.totals.baselines);
    assert_eq!(
        rows["patch_groups"] as u64,
        truth.totals.patch_group_registrations
    );
    assert_eq!(rows["coverage"], 6);

    let q = LakeQuery::open(dir.path(), AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    assert_eq!(q.run().run_id, summary.run.run_id);
    let by_group = aggs(
        &q.report("compliance_by_patch_group").await.unwrap(),
        "patch_group",
    );
    assert_eq!(by_group, truth.by_patch_group);
    let by_baseline = aggs(
        &q.report("compliance_by_baseline").await.unwrap(),
        "baseline_id",
    );
    assert_eq!(by_baseline, truth.by_baseline);

    // The fleet is not trivially compliant: every status occurs, and stopped or terminated
    // instances are counted apart.
    let all = truth.compliance;
    assert!(all.compliant > 0 && all.non_compliant > 0 && all.stale > 0 && all.unreported > 0);
    assert!(all.inactive > 0);

    // Opting out of the exclusion: both sides count every instance again, and still agree.
    let everyone = sim.fleet().truth(&TruthOptions {
        exclude_inactive: false,
        ..TruthOptions::at(summary.run.started_at)
    });
    assert_eq!(everyone.compliance.inactive, 0);
    assert_eq!(everyone.compliance.instances, truth.totals.instances);
    let q = LakeQuery::open_with(
        dir.path(),
        AsOf::Latest,
        ReportParams::default(),
        ReportOptions {
            exclude_inactive: false,
            ..ReportOptions::default()
        },
    )
    .await
    .unwrap();
    let by_group = aggs(
        &q.report("compliance_by_patch_group").await.unwrap(),
        "patch_group",
    );
    assert_eq!(by_group, everyone.by_patch_group);
    let by_baseline = aggs(
        &q.report("compliance_by_baseline").await.unwrap(),
        "baseline_id",
    );
    assert_eq!(by_baseline, everyone.by_baseline);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_ids_with_leading_zeros_survive_the_lake() {
    let spec = harness::small_spec(11);
    let sim = harness::sim(&spec).await;
    let zero_led: Vec<String> = sim
        .fleet()
        .accounts()
        .iter()
        .filter(|a| a.id.starts_with('0'))
        .map(|a| a.id.clone())
        .collect();
    assert!(
        !zero_led.is_empty(),
        "the simulator must generate 0-led ids"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config(&sim, dir.path());
    collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    let q = LakeQuery::open(dir.path(), AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    let batches = q
        .sql("SELECT DISTINCT account_id FROM instances ORDER BY account_id")
        .await
        .unwrap();
    let ids: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let a = b.column(0).as_string::<i32>();
            (0..a.len())
                .map(|i| a.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    for id in &zero_led {
        assert!(ids.contains(id), "{id} missing from {ids:?}");
    }
    sim.shutdown().await;
}
