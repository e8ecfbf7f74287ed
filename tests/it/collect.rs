//! The collector's contract with SSM and STS, counted at the simulator.

use std::sync::Arc;

use patchlake::demo::simulator_credentials;
use patchlake::pipeline::collect_run;
use patchlake_model::CoverageStatus;

use crate::harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_50_ids_and_pages_every_instance_and_patch() {
    let mut spec = harness::small_spec(3);
    spec.accounts = 1;
    spec.regions = vec!["us-east-1".into()];
    spec.instances_per_region = 237; // 5 pages of instances, 5 patch-state batches
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config(&sim, dir.path());
    let summary = collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(summary.is_complete(), "{:?}", summary.coverage);
    let stats = sim.stats();
    let account = &sim.fleet().accounts()[0].id;
    let ar = sim.fleet().account_region(account, "us-east-1").unwrap();
    let n = ar.instances.len() as u64;
    assert_eq!(n, 237);
    assert_eq!(stats.calls("DescribeInstanceInformation"), n.div_ceil(50));
    assert_eq!(stats.calls("DescribeInstancePatchStates"), n.div_ceil(50));
    // One DescribeInstancePatches call per page of 50 records, for each instance with a state.
    let expected_patch_calls: u64 = ar
        .instances
        .iter()
        .filter(|i| i.patch_state.is_some())
        .map(|i| {
            i.patch_state
                .as_ref()
                .unwrap()
                .counts
                .records()
                .div_ceil(50)
                .max(1)
        })
        .sum();
    assert_eq!(stats.calls("DescribeInstancePatches"), expected_patch_calls);
    assert!(
        expected_patch_calls > n,
        "linux instances span several pages"
    );
    assert_eq!(
        summary.run.row_counts["instance_patches"] as u64,
        ar.instances
            .iter()
            .filter_map(|i| i.patch_state.as_ref())
            .map(|s| s.counts.records())
            .sum::<u64>()
    );
    // The coverage row counts the SSM calls the client sent (AssumeRole is the account's,
    // not the region's).
    let c = &summary.coverage[0];
    assert_eq!(stats.calls("AssumeRole"), 1);
    assert_eq!(
        c.api_calls as u64,
        stats.calls_for(account, "us-east-1") - stats.calls_of("AssumeRole", account, "us-east-1")
    );
    assert_eq!(c.retries, 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_external_id_fails_every_account_with_a_message_naming_account_and_role() {
    let spec = harness::small_spec(5);
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let config = harness::with(
        &harness::config(&sim, dir.path()),
        &["roles.external_id=not-the-right-one"],
    );
    let summary = collect_run(Arc::new(config.clone()), Some(simulator_credentials()))
        .await
        .unwrap();
    assert_eq!(summary.coverage.len(), 6);
    for c in &summary.coverage {
        assert_eq!(c.status, CoverageStatus::Failed);
        assert_eq!(c.error_code.as_deref(), Some("AccessDenied"));
        let msg = c.error_message.as_deref().unwrap();
        assert!(msg.contains(&c.account_id), "{msg}");
        assert!(msg.contains(&config.role_arn(&c.account_id)), "{msg}");
        assert!(msg.contains("external_id"), "{msg}");
    }
    // One AssumeRole per account, not per region: the denial is remembered.
    assert_eq!(sim.stats().calls("AssumeRole"), 3);
    assert_eq!(summary.run.tasks_failed, 6);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_account_is_failed_in_coverage_while_the_others_complete() {
    let spec = harness::small_spec(9);
    let sim = harness::sim(&spec).await;
    let denied = sim.fleet().accounts()[1].id.clone();
    sim.faults().deny_assume_role(denied.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config(&sim, dir.path());
    let summary = collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(!summary.is_complete());
    for c in &summary.coverage {
        if c.account_id == denied {
            assert_eq!(c.status, CoverageStatus::Failed, "{c:?}");
            assert_eq!(c.error_code.as_deref(), Some("AccessDenied"));
            assert_eq!(c.instances, 0);
        } else {
            assert_eq!(c.status, CoverageStatus::Ok, "{c:?}");
            assert!(c.instances > 0);
        }
    }
    assert_eq!(summary.run.tasks_failed, 2);
    assert_eq!(summary.run.tasks_ok, 4);
    // The committed lake holds the other accounts' instances and none of the denied one's.
    let expected: u64 = sim
        .fleet()
        .account_regions()
        .iter()
        .filter(|ar| ar.account_id != denied)
        .map(|ar| ar.instances.len() as u64)
        .sum();
    assert_eq!(summary.run.row_counts["instances"] as u64, expected);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssm_denied_in_one_region_fails_only_that_region() {
    let spec = harness::small_spec(13);
    let sim = harness::sim(&spec).await;
    let account = sim.fleet().accounts()[0].id.clone();
    sim.faults().deny_ssm(account.clone(), "eu-west-1");
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config(&sim, dir.path());
    let summary = collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    let failed: Vec<_> = summary
        .coverage
        .iter()
        .filter(|c| c.status != CoverageStatus::Ok)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].account_id, account);
    assert_eq!(failed[0].region, "eu-west-1");
    assert_eq!(
        failed[0].error_code.as_deref(),
        Some("AccessDeniedException")
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_is_retried_to_completion_and_counted() {
    let mut spec = harness::small_spec(17);
    spec.accounts = 1;
    spec.instances_per_region = 60;
    let sim = harness::sim(&spec).await;
    // Far below what 8 calls in flight ask for, even on a loaded machine: most bursts are
    // throttled.
    sim.faults().set_throttle(Some(patchlake_sim::Throttle {
        rate_per_second: 40.0,
        burst: 5,
    }));
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config(&sim, dir.path());
    let summary = collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(summary.is_complete(), "{:?}", summary.coverage);
    let stats = sim.stats();
    assert!(stats.throttled > 0, "the storm did not happen");
    let throttled: i64 = summary.coverage.iter().map(|c| c.throttled_calls).sum();
    let retries: i64 = summary.coverage.iter().map(|c| c.retries).sum();
    assert_eq!(throttled as u64, stats.throttled);
    assert!(retries >= throttled, "every throttled call was retried");
    let truth = sim
        .fleet()
        .truth(&patchlake_sim::TruthOptions::at(summary.run.started_at));
    assert_eq!(
        summary.run.row_counts["instance_patches"] as u64,
        truth.totals.patch_records
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_sessions_expiring_mid_run_are_renewed() {
    let mut spec = harness::small_spec(19);
    spec.accounts = 1;
    spec.regions = vec!["us-east-1".into()];
    spec.instances_per_region = 60;
    let sim = harness::start_with(
        &spec,
        patchlake_sim::SimOptions {
            min_session_seconds: 1,
            ..Default::default()
        },
    )
    .await;
    sim.faults()
        .set_latency(std::time::Duration::from_millis(15));
    let dir = tempfile::tempdir().unwrap();
    let mut config = harness::with(
        &harness::config(&sim, dir.path()),
        &["collect.per_region_concurrency=2"],
    );
    // Below STS's 900 s minimum, which validation rightly refuses: set it directly so the
    // session lapses several times during the run.
    config.roles.duration_seconds = 2;
    let summary = collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(summary.is_complete(), "{:?}", summary.coverage);
    let stats = sim.stats();
    assert!(
        stats.calls("AssumeRole") >= 2,
        "the session was never renewed: {} AssumeRole calls",
        stats.calls("AssumeRole")
    );
    assert_eq!(stats.errors_with("ExpiredTokenException"), 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_rerun_over_an_unchanged_fleet_makes_few_calls_and_the_same_rows() {
    let mut spec = harness::small_spec(31);
    spec.accounts = 2;
    spec.instances_per_region = 80;
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(harness::config(&sim, dir.path()));
    assert!(config.collect.incremental, "incremental is the default");

    let first = collect_run(config.clone(), Some(simulator_credentials()))
        .await
        .unwrap();
    let full_calls = sim.stats().total_calls;
    sim.reset_stats();
    let second = collect_run(config.clone(), Some(simulator_credentials()))
        .await
        .unwrap();
    let incremental_calls = sim.stats().total_calls;
    assert!(second.is_complete(), "{:?}", second.coverage);
    assert_eq!(second.run.row_counts, first.run.row_counts);
    assert_eq!(sim.stats().calls("DescribeInstancePatches"), 0);
    assert!(
        incremental_calls * 10 <= full_calls,
        "incremental rerun made {incremental_calls} calls, full run {full_calls}"
    );

    // --full (collect.incremental = false) pages every instance again.
    sim.reset_stats();
    let full = harness::with(&config, &["collect.incremental=false"]);
    let third = collect_run(Arc::new(full), Some(simulator_credentials()))
        .await
        .unwrap();
    assert_eq!(third.run.row_counts, first.run.row_counts);
    assert_eq!(sim.stats().total_calls, full_calls);

    // The reused rows are the same rows: the reports of all three runs agree.
    for run in [&first, &second, &third] {
        let q = patchlake_query::LakeQuery::open(
            dir.path(),
            patchlake_query::AsOf::Run(run.run.run_id.clone()),
            patchlake_query::ReportParams::default(),
        )
        .await
        .unwrap();
        let text = |b: Vec<arrow::array::RecordBatch>| {
            arrow::util::pretty::pretty_format_batches(&b)
                .unwrap()
                .to_string()
        };
        let cves = text(
            q.sql("SELECT instance_id, title, state, cve_ids FROM instance_patches ORDER BY 1, 2, 3 LIMIT 500")
                .await
                .unwrap(),
        );
        let q1 = patchlake_query::LakeQuery::open(
            dir.path(),
            patchlake_query::AsOf::Run(first.run.run_id.clone()),
            patchlake_query::ReportParams::default(),
        )
        .await
        .unwrap();
        let expected = text(
            q1.sql("SELECT instance_id, title, state, cve_ids FROM instance_patches ORDER BY 1, 2, 3 LIMIT 500")
                .await
                .unwrap(),
        );
        assert_eq!(cves, expected);
    }
    println!("full run: {full_calls} calls; incremental rerun: {incremental_calls} calls");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_hop_role_chain_reaches_members_that_trust_only_the_middle_role() {
    let via = "arn:aws:iam::111122223333:role/PatchlakeOrgReader";
    let mut spec = harness::small_spec(43);
    spec.instances_per_region = 20;
    spec.extra_roles = vec![patchlake_sim::ExtraRole {
        role_arn: via.into(),
        external_id: Some("hub-secret".into()),
    }];
    spec.member_role_trusted_principal = Some(via.into());
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let base = harness::config(&sim, dir.path());

    // Without the hop the member roles deny the starting identity.
    let summary = collect_run(Arc::new(base.clone()), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(
        summary
            .coverage
            .iter()
            .all(|c| c.status == CoverageStatus::Failed
                && c.error_code.as_deref() == Some("AccessDenied")),
        "{:?}",
        summary.coverage
    );
    assert_eq!(sim.stats().calls("AssumeRole"), 3);

    // Through the via-role: assumed once, then every member from its session.
    sim.reset_stats();
    let mut chained = base.clone();
    chained.roles.chain_via_role_arn = Some(via.into());
    chained.roles.chain_via_external_id = Some("hub-secret".into());
    let summary = collect_run(Arc::new(chained.clone()), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(summary.is_complete(), "{:?}", summary.coverage);
    assert_eq!(summary.coverage.len(), 6);
    assert_eq!(summary.run.row_counts["instances"], 3 * 2 * 20);
    let stats = sim.stats();
    assert_eq!(
        stats.calls("AssumeRole"),
        1 + 3,
        "via-role once, each member once"
    );
    assert_eq!(stats.errors, 0);

    // A wrong ExternalId on the first hop fails every account, naming the via-role.
    sim.reset_stats();
    chained.roles.chain_via_external_id = Some("wrong".into());
    let summary = collect_run(Arc::new(chained), Some(simulator_credentials()))
        .await
        .unwrap();
    for c in &summary.coverage {
        assert_eq!(c.status, CoverageStatus::Failed);
        let message = c.error_message.as_deref().unwrap();
        assert!(message.contains(via), "{message}");
    }
    assert_eq!(
        sim.stats().calls("AssumeRole"),
        1,
        "a denied first hop is not retried per account"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_applications_and_tags_come_from_get_inventory_exactly() {
    let mut spec = harness::small_spec(47);
    spec.accounts = 1;
    let sim = harness::sim(&spec).await;
    let fleet = sim.fleet().clone();
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config(&sim, dir.path());
    assert!(config.collect.inventory_applications, "on by default");
    let summary = collect_run(Arc::new(config.clone()), Some(simulator_credentials()))
        .await
        .unwrap();
    assert!(summary.is_complete(), "{:?}", summary.coverage);

    let q = patchlake_query::LakeQuery::open(
        dir.path(),
        patchlake_query::AsOf::Latest,
        patchlake_query::ReportParams::default(),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    for b in q.sql("SELECT * FROM inventory_applications").await.unwrap() {
        let rows: Vec<patchlake_model::InventoryApplication> =
            patchlake_model::batch::deserialize_rows(
                patchlake_model::Table::InventoryApplications,
                &b,
            )
            .unwrap();
        got.extend(
            rows.into_iter()
                .map(|r| patchlake_sim::truth_inventory::ApplicationRow {
                    account_id: r.account_id,
                    region: r.region,
                    instance_id: r.instance_id,
                    name: r.name,
                    version: r.version.unwrap_or_default(),
                    publisher: r.publisher.unwrap_or_default(),
                    architecture: r.architecture.unwrap_or_default(),
                }),
        );
    }
    got.sort();
    let expected = fleet.application_rows();
    assert!(expected.len() > 2 * 120 * 10);
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "inventory rows differ from the simulator's truth"
    );
    assert_eq!(
        summary.run.row_counts["inventory_applications"] as u64,
        fleet.inventory_truth().applications
    );

    // GetInventory: 50 instances a call for applications; for tags too where that is cheaper
    // than one ListTagsForResource per instance without a patch state. Never per instance.
    let stats = sim.stats();
    let per_region = 120u64.div_ceil(50);
    let (mut tag_inventory_calls, mut list_tags_calls) = (0, 0);
    for ar in fleet.account_regions() {
        let without_state = ar
            .instances
            .iter()
            .filter(|i| i.patch_state.is_none())
            .count() as u64;
        if per_region < without_state {
            tag_inventory_calls += per_region;
        } else {
            list_tags_calls += without_state;
        }
    }
    assert!(
        tag_inventory_calls > 0,
        "the fleet exercises the tag inventory"
    );
    assert_eq!(
        stats.calls("GetInventory"),
        2 * per_region + tag_inventory_calls
    );
    assert_eq!(stats.calls("ListInventoryEntries"), 0);
    assert_eq!(stats.calls("ListTagsForResource"), list_tags_calls);
    // Every instance's patch group and tags are the simulator's.
    let mut instances = Vec::new();
    for b in q.sql("SELECT * FROM instances").await.unwrap() {
        let rows: Vec<patchlake_model::Instance> =
            patchlake_model::batch::deserialize_rows(patchlake_model::Table::Instances, &b)
                .unwrap();
        instances.extend(rows);
    }
    assert_eq!(instances.len(), 240);
    for i in &instances {
        let ar = fleet.account_region(&i.account_id, &i.region).unwrap();
        let f = ar.instance(&i.instance_id).unwrap();
        assert_eq!(i.patch_group.as_deref(), f.patch_group, "{}", i.instance_id);
        if !i.tags.is_empty() {
            assert_eq!(i.tags.get("Name"), Some(&f.name_tag), "{}", i.instance_id);
        }
    }

    // collect.inventory_applications = false: no application inventory is asked for.
    sim.reset_stats();
    let off = harness::with(&config, &["collect.inventory_applications=false"]);
    let summary = collect_run(Arc::new(off), Some(simulator_credentials()))
        .await
        .unwrap();
    assert_eq!(summary.run.row_counts["inventory_applications"], 0);
    assert_eq!(
        sim.stats().calls("GetInventory"),
        2 * per_region,
        "tags only"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_terminated_and_connection_lost_instances_are_kept_with_their_status() {
    let mut spec = harness::small_spec(53);
    spec.accounts = 2;
    let sim = harness::sim(&spec).await;
    let fleet = sim.fleet().clone();
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config(&sim, dir.path());
    let summary = collect_run(Arc::new(config), Some(simulator_credentials()))
        .await
        .unwrap();
    // Not counted as collection failures.
    assert!(summary.is_complete(), "{:?}", summary.coverage);
    assert!(
        summary
            .coverage
            .iter()
            .all(|c| c.status == CoverageStatus::Ok)
    );

    let mut expected = std::collections::BTreeMap::<(String, String), &str>::new();
    for ar in fleet.account_regions() {
        for i in &ar.instances {
            expected.insert(
                (ar.account_id.clone(), i.instance_id.clone()),
                i.ping_status.as_str(),
            );
        }
    }
    let by_status = |s: &str| expected.values().filter(|v| **v == s).count();
    assert!(
        by_status("ConnectionLost") >= 5,
        "the fleet has stopped instances"
    );
    assert!(
        by_status("Inactive") >= 2,
        "the fleet has terminated instances"
    );

    let q = patchlake_query::LakeQuery::open(
        dir.path(),
        patchlake_query::AsOf::Latest,
        patchlake_query::ReportParams::default(),
    )
    .await
    .unwrap();
    let mut got = std::collections::BTreeMap::new();
    for b in q.sql("SELECT * FROM instances").await.unwrap() {
        let rows: Vec<patchlake_model::Instance> =
            patchlake_model::batch::deserialize_rows(patchlake_model::Table::Instances, &b)
                .unwrap();
        for i in rows {
            got.insert(
                (i.account_id, i.instance_id),
                i.ping_status.unwrap_or_default(),
            );
        }
    }
    assert_eq!(got.len(), expected.len());
    for (k, status) in &expected {
        assert_eq!(got.get(k).map(String::as_str), Some(*status), "{k:?}");
    }
    // Their last patch state (if any) is kept too: the patch_states rows cover every instance
    // with a state, online or not.
    let with_state = fleet
        .account_regions()
        .iter()
        .flat_map(|ar| &ar.instances)
        .filter(|i| i.patch_state.is_some())
        .count();
    assert_eq!(summary.run.row_counts["patch_states"] as usize, with_state);
    assert!(
        fleet
            .account_regions()
            .iter()
            .flat_map(|ar| &ar.instances)
            .any(|i| i.patch_state.is_some() && i.ping_status.as_str() != "Online")
    );
    sim.shutdown().await;
}
