//! Account discovery through AWS Organizations, against the simulator's organization.

use std::collections::BTreeSet;
use std::sync::Arc;

use patchlake::demo::simulator_credentials;
use patchlake::pipeline::collect_run;
use patchlake_assume::ClientFactory;
use patchlake_config::Config;
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
