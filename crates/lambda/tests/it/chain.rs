//! The whole chain: the state machine definition followed by the local runner, each Task a
//! real handler binary behind the Runtime API emulator, against the fleet simulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;
use patchlake_lake::Lake;
use serde_json::{Value, json};

use crate::asl::Invoker;
use crate::emulator::FunctionError;
use crate::harness::{Functions, config, runner, sim, spec};

#[tokio::test]
async fn state_machine_runs_plan_collect_finalize_report_through_the_runtime_api() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(3, &["us-east-1", "eu-west-1"], 40)).await;
    let config = config(&sim, dir.path(), &["collect.concurrency=3"]);
    let functions = Arc::new(Functions::start(&config, 8));
    let runner = runner(functions.clone());

    let out = runner
        .run(json!({"source": "aws.scheduler"}))
        .await
        .unwrap();
    functions.shutdown().await;

    assert_eq!(out["finalize"]["partial"], false, "{out:#}");
    assert_eq!(out["finalize"]["tasks_ok"], 6);
    assert_eq!(out["finalize"]["tasks_missing"], 0);
    let objects = out["report"]["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2 * patchlake_query::list_reports().len());
    for key in objects {
        assert!(dir.path().join(key.as_str().unwrap()).is_file(), "{key}");
    }
    // The evidence bundle verifies, and its manifest is the one the execution recorded.
    let bundle = dir.path().join(out["report"]["evidence"].as_str().unwrap());
    let verified = patchlake_evidence::verify(&bundle).unwrap();
    assert!(verified.is_ok(), "{:?}", verified.problems);
    assert_eq!(
        verified.manifest_sha256,
        out["report"]["evidence_manifest_sha256"].as_str().unwrap()
    );
    assert_eq!(
        verified.manifest.run_id,
        out["run"]["run_id"].as_str().unwrap()
    );
    // The run is committed in the lake, with every instance of the fleet.
    let lake = Lake::open_existing(dir.path()).unwrap();
    let runs = lake.committed_runs().await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].run_id.to_string(),
        out["run"]["run_id"].as_str().unwrap()
    );
    assert_eq!(
        runs[0].row_counts["instances"] as usize,
        sim.fleet().instance_count()
    );
    assert!(
        lake.staged_runs().await.unwrap().is_empty(),
        "staging left behind"
    );

    let trace = runner.trace.lock().unwrap().clone();
    let names: Vec<&str> = trace.states.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.iter().filter(|n| **n == "CollectTask").count(), 6);
    let order: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| *n != "CollectTask")
        .collect();
    assert_eq!(
        order,
        ["Plan", "Collect", "Finalize", "IsPartial", "Report"]
    );
    assert!(trace.notifications.is_empty());
    // The Map ran at most MaxConcurrency (collect.concurrency) environments at once.
    let started = functions.functions["collect"]
        .started
        .load(Ordering::Relaxed);
    assert!((1..=3).contains(&started), "{started} collect environments");
    sim.shutdown().await;
}

/// Fails the first `n` invocations of a function with a given error type, then delegates.
struct Flaky {
    inner: Arc<Functions>,
    function: &'static str,
    error_type: &'static str,
    account: Option<String>,
    remaining: AtomicUsize,
}

impl Invoker for Flaky {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, FunctionError>> {
        Box::pin(async move {
            let targeted = function == self.function
                && self
                    .account
                    .as_deref()
                    .is_none_or(|a| input["account_id"] == a);
            if targeted
                && self
                    .remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return Err(FunctionError {
                    error_type: self.error_type.into(),
                    error_message: format!("injected by the test into {function}"),
                });
            }
            self.inner.invoke(function, input).await
        })
    }
}

#[tokio::test]
async fn retryable_errors_are_retried_and_partial_runs_notify() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(2, &["us-east-1", "eu-west-1"], 10)).await;
    let denied = sim.fleet().accounts()[0].id.clone();
    sim.faults().deny_ssm(denied.clone(), "eu-west-1");
    let config = config(&sim, dir.path(), &["collect.concurrency=2"]);
    let functions = Arc::new(Functions::start(&config, 4));
    let flaky = Arc::new(Flaky {
        inner: functions.clone(),
        function: "collect",
        error_type: "Retryable",
        account: None,
        remaining: AtomicUsize::new(2),
    });
    let runner = runner(flaky);
    let out = runner.run(json!({})).await.unwrap();
    functions.shutdown().await;

    let trace = runner.trace.lock().unwrap().clone();
    assert_eq!(trace.retries.len(), 2, "{:?}", trace.retries);
    assert!(
        trace
            .retries
            .iter()
            .all(|(s, e)| s == "CollectTask" && e == "Retryable")
    );
    assert_eq!(out["finalize"]["partial"], true, "{out:#}");
    assert_eq!(out["finalize"]["tasks_ok"], 3);
    assert_eq!(out["finalize"]["tasks_missing"], 0);
    assert_eq!(trace.notifications.len(), 1);
    let (topic, subject, message) = &trace.notifications[0];
    assert!(topic.starts_with("arn:aws:sns:"), "{topic}");
    assert!(subject.contains("partial"));
    assert_eq!(message["run_id"], out["run"]["run_id"]);
    assert!(
        out["report"]["objects"]
            .as_array()
            .is_some_and(|o| !o.is_empty())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn non_retryable_item_failures_beyond_tolerance_fail_the_run_without_commit() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(2, &["us-east-1"], 5)).await;
    let config = config(&sim, dir.path(), &[]);
    let functions = Arc::new(Functions::start(&config, 2));
    let account = sim.fleet().accounts()[1].id.clone();
    let flaky = Arc::new(Flaky {
        inner: functions.clone(),
        function: "collect",
        error_type: "BadInput",
        account: Some(account),
        remaining: AtomicUsize::new(usize::MAX),
    });
    let runner = runner(flaky);
    let e = runner.run(json!({})).await.unwrap_err();
    functions.shutdown().await;

    assert_eq!(e.error, "RunFailed");
    let trace = runner.trace.lock().unwrap().clone();
    assert!(
        trace.retries.is_empty(),
        "BadInput was retried: {:?}",
        trace.retries
    );
    assert_eq!(trace.failed_items, 1);
    let (_, subject, message) = &trace.notifications[0];
    assert!(subject.contains("failed"));
    assert_eq!(message["Error"], "States.ExceedToleratedFailureThreshold");
    let lake = Lake::open_existing(dir.path()).unwrap();
    assert!(lake.committed_runs().await.unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_crashing_environment_is_an_exit_error() {
    // `false` exits at once, before asking for an invocation: Lambda reports Runtime.ExitError.
    let f = crate::emulator::Function::new("broken", "/bin/false".into(), vec![], 1);
    let e = f.invoke(json!({})).await.unwrap_err();
    assert_eq!(e.error_type, "Runtime.ExitError", "{e:?}");
}
