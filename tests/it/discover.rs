//! Account discovery through AWS Organizations, against the simulator's organization.

use std::collections::BTreeSet;
use std::sync::Arc;

use patchlake::demo::simulator_credentials;
use patchlake::pipeline::collect_run;
use patchlake_assume::ClientFactory;
use patchlake_config::{Config, RegionSource};
use patchlake_model::CoverageStatus;
use patchlake_sim::SimHandle;

use crate::harness;

fn org_config(sim: &SimHandle, lake: &std::path::Path, sets: &[&str]) -> Config {
    let mut all = vec!["accounts.source=organizations"];
    all.extend_from_slice(sets);
    harness::with(&harness::config(sim, lake), &all)
}

async fn discovered(config: &Config) -> (BTreeSet<String>, Vec<(String, String)>) {
    let factory = ClientFactory::new(&config.aws, Some(simulator_credentials())).await;
    let plan = patchlake_discover::discover(&factory, config)
        .await
        .unwrap();
    (
        plan.accounts.into_iter().map(|a| a.id).collect(),
        plan.skipped,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_discovery_skips_suspended_and_filters_by_ou() {
    let mut spec = harness::small_spec(23);
    spec.accounts = 8;
    spec.suspended_accounts = vec![3];
    let sim = harness::sim(&spec).await;
    let fleet = sim.fleet().clone();
    let dir = tempfile::tempdir().unwrap();
    let suspended = fleet.accounts()[3].id.clone();

    // Whole organization: every account but the suspended one, which is reported.
    let (ids, skipped) = discovered(&org_config(&sim, dir.path(), &[])).await;
    let expected: BTreeSet<String> = fleet
        .accounts()
        .iter()
        .filter(|a| a.id != suspended)
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, suspended);
    assert!(skipped[0].1.contains("SUSPENDED"), "{skipped:?}");

    // Only one OU.
    let ou = &fleet.organization().units[0].id;
    let (ids, _) = discovered(&org_config(
        &sim,
        dir.path(),
        &[&format!("accounts.include_ous={ou}")],
    ))
    .await;
    let under: BTreeSet<String> = fleet
        .accounts()
        .iter()
        .filter(|a| &a.parent_id == ou && a.id != suspended)
        .map(|a| a.id.clone())
        .collect();
    assert!(!under.is_empty());
    assert_eq!(ids, under);

    // Everything but that OU.
    let (ids, skipped) = discovered(&org_config(
        &sim,
        dir.path(),
        &[&format!("accounts.exclude_ous={ou}")],
    ))
    .await;
    assert!(ids.is_disjoint(&under));
    assert_eq!(ids.len() + under.len(), expected.len());
    assert!(skipped.iter().any(|(_, why)| why.contains("exclude_ous")));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_the_organization_collects_every_active_account() {
    let mut spec = harness::small_spec(29);
    spec.accounts = 4;
    spec.instances_per_region = 30;
    spec.suspended_accounts = vec![2];
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let config = org_config(&sim, dir.path(), &[]);
    let summary = collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(summary.is_complete(), "{:?}", summary.coverage);
    assert_eq!(summary.coverage.len(), 3 * 2);
    assert_eq!(summary.skipped_accounts.len(), 1);
    assert_eq!(summary.run.accounts, 3);
    sim.shutdown().await;
}

/// A fleet in four regions, two of them opt-in with a different status in each account.
fn opt_in_spec() -> patchlake_sim::FleetSpec {
    use patchlake_sim::RegionOptStatus::{Disabling, Enabled, Enabling};
    let mut spec = harness::small_spec(41);
    spec.accounts = 3;
    spec.instances_per_region = 30;
    spec.regions = ["us-east-1", "eu-west-1", "af-south-1", "me-south-1"]
        .map(String::from)
        .to_vec();
    spec.opt_in_regions = vec!["af-south-1".into(), "me-south-1".into()];
    spec.region_opt_in = vec![
        (0, "af-south-1".into(), Enabled),
        (1, "af-south-1".into(), Enabling),
        (2, "me-south-1".into(), Enabled),
        (0, "me-south-1".into(), Disabling),
    ];
    spec
}

type Pairs = BTreeSet<(String, String)>;

fn pairs_with(summary: &patchlake::pipeline::RunSummary, status: CoverageStatus) -> Pairs {
    summary
        .coverage
        .iter()
        .filter(|c| c.status == status)
        .map(|c| (c.account_id.clone(), c.region.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_regions_collect_opted_in_regions_and_skip_disabled_ones() {
    let spec = opt_in_spec();
    let sim = harness::sim(&spec).await;
    let fleet = sim.fleet().clone();
    let ids: Vec<String> = fleet.accounts().iter().map(|a| a.id.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut config = harness::config(&sim, dir.path());
    config.regions.source = RegionSource::Enabled;
    config.regions.names = vec![];

    let summary = collect_run(Arc::new(config.clone()), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(summary.is_complete(), "{:?}", summary.coverage);
    let pair = |a: usize, r: &str| (ids[a].clone(), r.to_string());
    let mut expected_ok: Pairs = (0..3)
        .flat_map(|a| [pair(a, "us-east-1"), pair(a, "eu-west-1")])
        .collect();
    expected_ok.insert(pair(0, "af-south-1"));
    expected_ok.insert(pair(2, "me-south-1"));
    assert_eq!(pairs_with(&summary, CoverageStatus::Ok), expected_ok);
    assert!(pairs_with(&summary, CoverageStatus::Failed).is_empty());
    let skipped = pairs_with(&summary, CoverageStatus::Skipped);
    // The spec's opt-in regions not enabled, with their in-between states...
    for p in [
        pair(1, "af-south-1"),
        pair(2, "af-south-1"),
        pair(0, "me-south-1"),
        pair(1, "me-south-1"),
    ] {
        assert!(skipped.contains(&p), "{p:?} skipped");
    }
    // ...and every other opt-in region AWS has, disabled in every account.
    assert_eq!(skipped.len(), 4 + 3 * 13, "{skipped:?}");
    let enabling = summary
        .coverage
        .iter()
        .find(|c| (c.account_id.clone(), c.region.clone()) == pair(1, "af-south-1"))
        .unwrap();
    assert_eq!(enabling.error_code.as_deref(), Some("RegionDisabled"));
    let message = enabling.error_message.as_deref().unwrap();
    assert!(
        message.contains("ENABLING") && message.contains(&ids[1]),
        "{message}"
    );

    let stats = sim.stats();
    assert_eq!(stats.calls("ListRegions"), 3, "one per account");
    assert_eq!(
        stats.calls("AssumeRole"),
        3,
        "the session is shared with collection"
    );
    assert_eq!(stats.errors_with("UnrecognizedClientException"), 0);
    // Everything in the enabled regions, nothing else.
    assert_eq!(
        summary.run.row_counts["instances"] as usize,
        fleet.instance_count()
    );
    assert_eq!(fleet.instance_count(), 30 * 8);
    // The coverage table in the lake holds the skipped rows too.
    assert_eq!(
        summary.run.row_counts["coverage"] as usize,
        summary.coverage.len()
    );

    // regions.names limits the enabled regions; regions.exclude removes.
    sim.reset_stats();
    config.regions.names = vec!["us-east-1".into(), "af-south-1".into(), "eu-west-1".into()];
    config.regions.exclude = vec!["eu-west-1".into()];
    let summary = collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    let ok: Pairs = [
        pair(0, "us-east-1"),
        pair(1, "us-east-1"),
        pair(2, "us-east-1"),
        pair(0, "af-south-1"),
    ]
    .into_iter()
    .collect();
    assert_eq!(pairs_with(&summary, CoverageStatus::Ok), ok);
    let skipped: Pairs = [pair(1, "af-south-1"), pair(2, "af-south-1")]
        .into_iter()
        .collect();
    assert_eq!(pairs_with(&summary, CoverageStatus::Skipped), skipped);
    assert_eq!(summary.coverage.len(), 6);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_regions_disabled_in_an_account_are_skipped_not_failed() {
    let spec = opt_in_spec();
    let sim = harness::sim(&spec).await;
    let ids: Vec<String> = sim
        .fleet()
        .accounts()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut config = harness::config(&sim, dir.path());
    assert_eq!(config.regions.source, RegionSource::Static);
    config.regions.names = vec!["us-east-1".into(), "af-south-1".into()];
    let summary = collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(summary.is_complete(), "{:?}", summary.coverage);
    let skipped: Pairs = [1, 2]
        .map(|a| (ids[a].clone(), "af-south-1".to_string()))
        .into_iter()
        .collect();
    assert_eq!(pairs_with(&summary, CoverageStatus::Skipped), skipped);
    assert_eq!(pairs_with(&summary, CoverageStatus::Ok).len(), 4);
    for c in summary
        .coverage
        .iter()
        .filter(|c| c.status == CoverageStatus::Skipped)
    {
        assert_eq!(c.error_code.as_deref(), Some("RegionDisabled"));
        assert!(c.error_message.as_deref().unwrap().contains("af-south-1"));
    }
    // Only the two regions SSM refused were checked with the account.
    assert_eq!(sim.stats().calls("ListRegions"), 2);
    sim.shutdown().await;
}
