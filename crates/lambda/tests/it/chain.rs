//! The whole chain: the state machine definition followed by the local runner, each Task a
//! real handler binary behind the Runtime API emulator, against the fleet simulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;
use patchlake_lake::Lake;
use serde_json::{Value, json};

use crate::asl::{Invoker, ObjectReader, Runner};
use crate::emulator::FunctionError;
use crate::harness::{
    Functions, config, credentials, definition, runner, sim, spec, substitutions,
};

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

const BUCKET: &str = "patchlake-lambda-test";

/// The same chain with the lake in an S3 bucket on moto: the Map's ItemReader reads the task
/// list from the bucket, and the committed run, the reports and the evidence bundle are
/// objects there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_machine_runs_the_chain_into_an_s3_lake_on_moto() {
    if patchlake_testkit::moto::skipped() {
        return;
    }
    let moto = patchlake_testkit::moto::Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(&spec(2, &["us-east-1", "eu-west-1"], 30)).await;
    let config = config(
        &sim,
        dir.path(),
        &[
            "collect.concurrency=2",
            &format!("lake.root=s3://{BUCKET}/lake"),
            &format!("lake.endpoint_url={}", moto.endpoint),
            "lake.force_path_style=true",
            &format!(
                "lake.expected_bucket_owner={}",
                patchlake_testkit::moto::MOTO_ACCOUNT
            ),
            "lake.kms_key_id=alias/patchlake-test",
        ],
    );
    let factory = patchlake_assume::ClientFactory::new(&config.aws, Some(credentials())).await;
    factory
        .s3(&config.lake)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("creating the test bucket");
    let lake = Arc::new(
        patchlake::pipeline::open_lake_with(&config, Some(&factory))
            .await
            .unwrap(),
    );
    let functions = Arc::new(Functions::start(&config, 4));
    let runner = Runner::new(
        definition(),
        substitutions(),
        functions.clone(),
        s3_reader(lake.clone()),
    );
    let out = runner.run(json!({})).await.unwrap();
    functions.shutdown().await;

    assert_eq!(out["tasks_object"]["bucket"], BUCKET, "{out:#}");
    assert_eq!(out["finalize"]["partial"], false, "{out:#}");
    assert_eq!(out["finalize"]["tasks_ok"], 4);
    assert_eq!(out["finalize"]["tasks_missing"], 0);
    // The run is committed in the bucket, every instance in it, and it verifies.
    let runs = lake.committed_runs().await.unwrap();
    assert_eq!(runs.len(), 1);
    let run_id = &runs[0].run_id;
    assert_eq!(run_id.to_string(), out["run"]["run_id"].as_str().unwrap());
    assert_eq!(
        runs[0].row_counts["instances"] as usize,
        sim.fleet().instance_count()
    );
    let verified = lake.verify(run_id).await.unwrap();
    assert!(verified.is_ok(), "{verified:?}");
    assert!(
        lake.staged_runs().await.unwrap().is_empty(),
        "staging left behind"
    );
    // Every report object and the evidence bundle are in the bucket; the bundle verifies and
    // is the one the execution recorded.
    let objects = out["report"]["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2 * patchlake_query::list_reports().len());
    for key in objects {
        let key = key.as_str().unwrap();
        let meta = lake.storage().head(key).await.unwrap();
        assert!(
            meta.is_some_and(|m| m.size > 0),
            "{key} is not in the bucket"
        );
    }
    let zip = lake
        .storage()
        .get(out["report"]["evidence"].as_str().unwrap())
        .await
        .unwrap();
    let bundle = dir.path().join("evidence.zip");
    std::fs::write(&bundle, zip).unwrap();
    let verified = patchlake_evidence::verify(&bundle).unwrap();
    assert!(verified.is_ok(), "{:?}", verified.problems);
    assert_eq!(
        verified.manifest_sha256,
        out["report"]["evidence_manifest_sha256"].as_str().unwrap()
    );
    assert_eq!(verified.manifest.run_id, run_id.to_string());
    // Nothing was written to the local directory the configuration started from.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    sim.shutdown().await;
}

/// The ItemReader's S3 for an S3 lake: objects of the lake's bucket, read through the lake.
fn s3_reader(lake: Arc<Lake>) -> ObjectReader {
    Arc::new(move |bucket: &str, key: &str| {
        if bucket != BUCKET {
            return Err(format!("no bucket {bucket}"));
        }
        let key = key
            .strip_prefix("lake/")
            .ok_or_else(|| format!("{key} is outside the lake"))?;
        let lake = lake.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(lake.storage().get(key))
        })
        .map_err(|e| e.to_string())
    })
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

#[test]
fn a_function_without_a_known_handler_fails_at_init_naming_the_variable() {
    // The one binary serves the handler named by `_HANDLER` (the function's `Handler`
    // property); a wrong or missing one must stop the process before it asks for work.
    for value in [Some("bogus"), Some(""), None] {
        let mut cmd = std::process::Command::new(crate::harness::binary());
        cmd.env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("AWS_LAMBDA_FUNCTION_NAME", "patchlake-plan");
        if let Some(v) = value {
            cmd.env(patchlake_lambda::runtime::HANDLER_VAR, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{value:?}: {out:?}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = match value {
            Some(v) if !v.is_empty() => format!("`{v}`"),
            _ => "not set".to_owned(),
        };
        assert!(
            text.contains(&format!("_HANDLER is {shown}"))
                && text.contains("plan, collect, finalize, report"),
            "{value:?}: {text}"
        );
    }
}

#[test]
fn every_function_in_the_hub_template_names_its_handler_and_the_one_zip() {
    // infra/template.yaml is CloudFormation YAML with intrinsic tags; its function resources
    // are read as text blocks (a resource runs until the next two-space-indented key).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
    let template = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = template.lines().collect();
    for handler in patchlake_lambda::Handler::ALL {
        let name = handler.name();
        let resource = format!(
            "  {}{}Function:",
            name[..1].to_ascii_uppercase(),
            &name[1..]
        );
        let start = lines
            .iter()
            .position(|l| *l == resource)
            .unwrap_or_else(|| panic!("{resource} not in {path}"));
        let block: Vec<&str> = lines[start + 1..]
            .iter()
            .take_while(|l| l.is_empty() || l.starts_with("   ") || l.starts_with("  #"))
            .copied()
            .collect();
        let handlers: Vec<&str> = block
            .iter()
            .filter_map(|l| l.trim().strip_prefix("Handler: "))
            .collect();
        assert_eq!(handlers, [name], "{resource} Handler in {path}");
        assert_eq!(
            patchlake_lambda::Handler::from_name(handlers[0]),
            Some(handler)
        );
        assert!(
            block
                .iter()
                .any(|l| l.trim() == "CodeUri: ../dist/lambda/patchlake-lambda.zip"),
            "{resource} must deploy the one zip scripts/package-lambdas builds"
        );
    }
    assert!(
        !template.contains("Handler: bootstrap"),
        "a Globals Handler would hide a function without its own"
    );
}
