//! The handlers called in-process with hand-built events.

use patchlake_lambda::events::{
    CollectInput, FinalizeInput, PlanInput, PlanOutput, ReportInput, RunInfo,
};
use patchlake_lambda::{ErrorKind, Handler, collect, finalize, plan, report};
use serde_json::json;

use crate::harness::{config, deps, sim, spec};

fn run_info(run_id: &str) -> RunInfo {
    RunInfo {
        run_id: run_id.to_owned(),
        started_at: "2026-11-25T10:11:12+00:00".to_owned(),
        config_sha256: "0".repeat(64),
        accounts: 1,
        regions: 1,
        tasks: 1,
    }
}

async fn tasks(out: &PlanOutput) -> Vec<CollectInput> {
    let path = std::path::Path::new(&out.tasks_object.bucket).join(&out.tasks_object.key);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn malformed_events_are_bad_input_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(1, &["us-east-1"], 5)).await;
    let deps = deps(&config(&sim, dir.path(), &[])).await;
    let cases = [
        (
            Handler::Collect,
            json!({"run_id": "20261125T101112Z-deadbeef", "account_id": "111111111111"}),
            "region",
        ),
        (
            Handler::Collect,
            json!({"run_id": "20261125T101112Z-deadbeef", "account_id": 111111111111u64, "region": "us-east-1"}),
            "account_id",
        ),
        (
            Handler::Collect,
            json!({"run_id": "20261125T101112Z-deadbeef", "account_id": "12", "region": "us-east-1"}),
            "account_id",
        ),
        (
            Handler::Collect,
            json!({"run_id": "20261125T101112Z-deadbeef", "account_id": "111111111111", "region": "US East"}),
            "region",
        ),
        (
            Handler::Collect,
            json!({"run_id": "yesterday", "account_id": "111111111111", "region": "us-east-1"}),
            "run_id",
        ),
        (
            Handler::Collect,
            json!({"run_id": "20261125T101112Z-deadbeef", "account_id": "111111111111", "region": "us-east-1", "regoin": "x"}),
            "regoin",
        ),
        (Handler::Collect, json!("not an object"), "the event"),
        (
            Handler::Finalize,
            json!({"run": {"run_id": "20261125T101112Z-deadbeef"}}),
            "run",
        ),
        (
            Handler::Finalize,
            json!({"run": {"run_id": "20261125T101112Z-deadbeef", "started_at": "noon", "config_sha256": "", "accounts": 1, "regions": 1, "tasks": 1}}),
            "run.started_at",
        ),
        (
            Handler::Finalize,
            json!({"run": {"run_id": "20261125T101112Z-deadbeef", "started_at": "2026-11-25T10:11:12Z", "config_sha256": "", "accounts": "one", "regions": 1, "tasks": 1}}),
            "run.accounts",
        ),
        (Handler::Report, json!({}), "run_id"),
        (Handler::Plan, json!({"run_id": "not-a-run-id"}), "run_id"),
    ];
    for (handler, event, field) in cases {
        let e = handler
            .invoke(&deps, event.clone())
            .await
            .expect_err(&format!("{handler:?} accepted {event}"));
        assert_eq!(e.kind, ErrorKind::BadInput, "{handler:?} {event}: {e}");
        assert!(!e.kind.is_retryable());
        assert!(
            e.message.contains(field),
            "{handler:?} {event}: the error does not name `{field}`: {e}"
        );
        let d: lambda_runtime::Diagnostic = e.into();
        assert_eq!(d.error_type, "BadInput");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn plan_collect_finalize_report_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(2, &["us-east-1", "eu-west-1"], 30)).await;
    let config = config(&sim, dir.path(), &["collect.incremental=false"]);
    let deps = deps(&config).await;

    let planned = plan(&deps, PlanInput::default()).await.unwrap();
    assert_eq!(planned.run.tasks, 4);
    assert_eq!((planned.run.accounts, planned.run.regions), (2, 2));
    assert_eq!(planned.run.config_sha256, config.sha256());
    assert_eq!(planned.max_concurrency, config.collect.concurrency as u64);
    let items = tasks(&planned).await;
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|t| t.run_id == planned.run.run_id));

    let mut instances = 0;
    for item in &items {
        let out = collect(&deps, item.clone()).await.unwrap();
        assert_eq!(out.status, "ok", "{out:?}");
        assert_eq!(
            (&out.account_id, &out.region),
            (&item.account_id, &item.region)
        );
        assert_eq!(out.rows["instances"], out.instances);
        instances += out.instances;
    }
    // A retried task replaces its staged rows: the run does not double count.
    collect(&deps, items[0].clone()).await.unwrap();
    assert_eq!(instances as usize, sim.fleet().instance_count());

    let fin = finalize(
        &deps,
        FinalizeInput {
            run: planned.run.clone(),
        },
    )
    .await
    .unwrap();
    assert!(!fin.partial, "{fin:?}");
    assert!(!fin.already_committed);
    assert_eq!((fin.tasks_ok, fin.tasks_missing), (4, 0));
    assert_eq!(fin.row_counts["instances"], instances);

    // A retry of finalize after a lost response: same summary, nothing changed.
    let again = finalize(
        &deps,
        FinalizeInput {
            run: planned.run.clone(),
        },
    )
    .await
    .unwrap();
    assert!(again.already_committed);
    assert_eq!(again.row_counts, fin.row_counts);

    let rep = report(
        &deps,
        ReportInput {
            run_id: fin.run_id.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(rep.objects.len(), 2 * patchlake_query::list_reports().len());
    for key in &rep.objects {
        assert!(key.starts_with("reports/dt="), "{key}");
        let bytes = std::fs::read(dir.path().join(key)).unwrap();
        assert!(!bytes.is_empty(), "{key} is empty");
    }
    let by_account = std::fs::read_to_string(
        dir.path().join(
            rep.objects
                .iter()
                .find(|k| k.ends_with("compliance_by_account_region.csv"))
                .unwrap(),
        ),
    )
    .unwrap();
    for a in sim.fleet().accounts() {
        assert!(
            by_account.contains(&a.id),
            "{} missing from\n{by_account}",
            a.id
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn finalize_reports_failed_and_missing_tasks_as_partial() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(2, &["us-east-1"], 10)).await;
    let deps = deps(&config(&sim, dir.path(), &[])).await;
    let denied = sim.fleet().accounts()[1].id.clone();
    sim.faults().deny_assume_role(denied.clone());

    let planned = plan(
        &deps,
        PlanInput {
            run_id: Some("20261125T101112Z-0000beef".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(planned.run.run_id, "20261125T101112Z-0000beef");
    let items = tasks(&planned).await;
    let (denied_item, ok_item) = match items.iter().position(|t| t.account_id == denied) {
        Some(0) => (items[0].clone(), items[1].clone()),
        _ => (items[1].clone(), items[0].clone()),
    };
    let failed = collect(&deps, denied_item).await.unwrap();
    assert_eq!(failed.account_id, denied);
    assert_eq!(failed.status, "failed", "{failed:?}");
    assert!(failed.error_code.is_some());

    // Pretend a third task was planned whose invocation never succeeded.
    let mut run = planned.run.clone();
    run.tasks += 1;
    collect(&deps, ok_item).await.unwrap();
    let fin = finalize(&deps, FinalizeInput { run }).await.unwrap();
    assert!(fin.partial);
    assert_eq!(
        (fin.tasks_ok, fin.tasks_failed, fin.tasks_missing),
        (1, 1, 1)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_outside_the_event_are_classified() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(1, &["us-east-1"], 5)).await;
    let deps = deps(&config(&sim, dir.path(), &[])).await;
    // Nothing staged for the run: not retryable (retrying cannot make tasks appear).
    let e = finalize(
        &deps,
        FinalizeInput {
            run: run_info("20261125T101112Z-00000001"),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput, "{e}");
    assert!(e.message.contains("20261125T101112Z-00000001"), "{e}");
    // Reports of a run that is not committed.
    let e = report(
        &deps,
        ReportInput {
            run_id: "20261125T101112Z-00000001".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput, "{e}");
    // An unreachable endpoint for discovery through Organizations: retryable.
    let cfg = config(
        &sim,
        dir.path(),
        &[
            "accounts.source=organizations",
            "aws.endpoint_url=http://127.0.0.1:9",
            "aws.max_attempts=1",
        ],
    );
    let unreachable = crate::harness::deps(&cfg).await;
    let e = plan(&unreachable, PlanInput::default()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable, "{e}");
    sim.shutdown().await;
}

#[test]
fn configuration_comes_from_the_environment() {
    let vars = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let c = patchlake_lambda::config_from_vars(vars(&[
        (
            "PATCHLAKE_CONFIG_TOML",
            "[accounts]\nids = [\"111111111111\"]\n[lake]\nroot = \"/tmp/lake-a\"\n[collect]\nconcurrency = 3\n",
        ),
        ("PATCHLAKE_LAKE_ROOT", "/tmp/lake-b"),
        ("HOME", "/root"),
    ]))
    .unwrap();
    assert_eq!(c.lake.root, "/tmp/lake-b");
    assert_eq!(c.collect.concurrency, 3);
    let e = patchlake_lambda::config_from_vars(vars(&[("PATCHLAKE_COLLECT_CONCURRENCY", "many")]))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert!(e.message.contains("collect.concurrency"), "{e}");
    assert!(e.message.contains("PATCHLAKE_COLLECT_CONCURRENCY"), "{e}");
    let e = patchlake_lambda::config_from_vars(vars(&[(
        "PATCHLAKE_CONFIG_FILE",
        "/nonexistent/patchlake.toml",
    )]))
    .unwrap_err();
    assert!(e.message.contains("/nonexistent/patchlake.toml"), "{e}");
}
