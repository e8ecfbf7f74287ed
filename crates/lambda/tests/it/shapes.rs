//! The state machine definition checked against the handlers' event and result types: run
//! over hand-built results with strict JSONPath, every event a Task builds must parse as its
//! handler's input, and every path the definition references must exist.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use patchlake_lambda::ErrorKind;
use patchlake_lambda::error::parse_event;
use patchlake_lambda::events::*;
use serde_json::{Value, json};

use crate::asl::{Invoker, Runner};
use crate::emulator::FunctionError;
use crate::harness::{definition, local_reader, substitutions};

const RUN_ID: &str = "20261125T101112Z-deadbeef";

/// Answers each function with a hand-built result, after parsing its event strictly.
struct Shapes {
    lake: std::path::PathBuf,
    partial: bool,
}

fn sample_run() -> RunInfo {
    RunInfo {
        run_id: RUN_ID.into(),
        started_at: "2026-11-25T10:11:12+00:00".into(),
        config_sha256: "ab".repeat(32),
        accounts: 2,
        regions: 1,
        tasks: 2,
    }
}

fn to_value<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap()
}

impl Shapes {
    fn answer(
        &self,
        function: &str,
        event: Value,
    ) -> Result<Value, patchlake_lambda::HandlerError> {
        Ok(match function {
            "plan" => {
                let _: PlanInput = parse_event(function, event)?;
                to_value(PlanOutput {
                    run: sample_run(),
                    tasks_object: ObjectLocation {
                        bucket: self.lake.display().to_string(),
                        key: "_plans/tasks.json".into(),
                    },
                    max_concurrency: 2,
                    skipped_accounts: vec![SkippedAccount {
                        account_id: "333333333333".into(),
                        reason: "suspended".into(),
                    }],
                })
            }
            "collect" => {
                let input: CollectInput = parse_event(function, event)?;
                to_value(CollectOutput {
                    run_id: input.run_id,
                    account_id: input.account_id,
                    region: input.region,
                    status: "ok".into(),
                    error_code: None,
                    error_message: None,
                    instances: 1,
                    api_calls: 5,
                    throttled_calls: 0,
                    retries: 0,
                    rows: BTreeMap::new(),
                })
            }
            "finalize" => {
                let input: FinalizeInput = parse_event(function, event)?;
                assert_eq!(
                    input.run,
                    sample_run(),
                    "finalize must get plan's run unchanged"
                );
                to_value(FinalizeOutput {
                    run_id: input.run.run_id,
                    partial: self.partial,
                    tasks_planned: 2,
                    tasks_ok: 2,
                    tasks_partial: 0,
                    tasks_failed: 0,
                    tasks_missing: 0,
                    row_counts: BTreeMap::new(),
                    files: 1,
                    bytes: 1,
                    already_committed: false,
                })
            }
            "report" => {
                let input: ReportInput = parse_event(function, event)?;
                assert_eq!(input.run_id, RUN_ID);
                to_value(ReportOutput {
                    run_id: input.run_id,
                    prefix: "reports/".into(),
                    objects: vec![],
                    evidence: "reports/evidence.zip".into(),
                    evidence_manifest_sha256: "0".repeat(64),
                })
            }
            other => panic!("the definition invokes an unknown function {other}"),
        })
    }
}

impl Invoker for Shapes {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, FunctionError>> {
        Box::pin(async move {
            self.answer(function, input).map_err(|e| FunctionError {
                error_type: e.kind.name().into(),
                error_message: e.message,
            })
        })
    }
}

async fn run_shapes(partial: bool) -> (Result<Value, crate::asl::StepError>, Vec<String>, usize) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("_plans")).unwrap();
    let items = vec![
        CollectInput {
            run_id: RUN_ID.into(),
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
        },
        CollectInput {
            run_id: RUN_ID.into(),
            account_id: "222222222222".into(),
            region: "us-east-1".into(),
        },
    ];
    std::fs::write(
        dir.path().join("_plans/tasks.json"),
        serde_json::to_vec(&items).unwrap(),
    )
    .unwrap();
    let runner = Runner::new(
        definition(),
        substitutions(),
        Arc::new(Shapes {
            lake: dir.path().to_owned(),
            partial,
        }),
        local_reader(),
    );
    let out = runner.run(json!({})).await;
    let trace = runner.trace.lock().unwrap();
    let states = trace.states.iter().map(|(n, _)| n.clone()).collect();
    (out, states, trace.notifications.len())
}

#[tokio::test]
async fn every_path_the_definition_uses_exists_in_the_handlers_shapes() {
    let (out, states, notes) = run_shapes(false).await;
    let out = out.unwrap_or_else(|e| panic!("{}: {}", e.error, e.cause));
    assert_eq!(out["report"]["run_id"], RUN_ID);
    assert_eq!(notes, 0);
    let (out, states_partial, notes) = run_shapes(true).await;
    out.unwrap_or_else(|e| panic!("{}: {}", e.error, e.cause));
    assert_eq!(notes, 1);
    // Together the two runs enter every state but the failure branch.
    let def = definition();
    let mut all: BTreeSet<String> = def["States"].as_object().unwrap().keys().cloned().collect();
    all.insert("CollectTask".into());
    let seen: BTreeSet<String> = states.into_iter().chain(states_partial).collect();
    let unseen: Vec<&String> = all.difference(&seen).collect();
    assert_eq!(unseen, ["Failed", "NotifyFailed"]);
}

#[tokio::test]
async fn a_renamed_field_would_be_caught() {
    // The check can fail: the same definition over a plan result missing `tasks_object`.
    let mut def = definition();
    def["States"]["Collect"]["ItemReader"]["Parameters"]["Bucket.$"] = json!("$.tasks_bucket");
    let runner = Runner::new(
        def,
        substitutions(),
        Arc::new(Shapes {
            lake: "/nonexistent".into(),
            partial: false,
        }),
        local_reader(),
    );
    runner.run(json!({})).await.unwrap_err();
    let trace = runner.trace.lock().unwrap();
    let (_, subject, message) = &trace.notifications[0];
    assert!(subject.contains("failed"));
    assert_eq!(message["Error"], "States.Runtime");
    assert!(
        message["Cause"]
            .as_str()
            .unwrap()
            .contains("$.tasks_bucket"),
        "{message}"
    );
}

fn collect_error_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                if k == "ErrorEquals" {
                    out.extend(
                        v.as_array()
                            .unwrap()
                            .iter()
                            .map(|e| e.as_str().unwrap().to_owned()),
                    );
                } else {
                    collect_error_names(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_error_names(v, out)),
        _ => {}
    }
}

#[test]
fn retry_and_catch_name_only_errors_that_exist() {
    let mut names = BTreeSet::new();
    collect_error_names(&definition(), &mut names);
    let ours: BTreeSet<&str> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
    for name in &names {
        let known = ours.contains(name.as_str())
            || name.starts_with("States.")
            || name.starts_with("Lambda.")
            || name == "Runtime.ExitError";
        assert!(known, "ErrorEquals names {name}, which no handler raises");
    }
    // Retried: exactly the retryable kind of ours.
    assert!(names.contains("Retryable"));
    let def = definition();
    let retried = &def["States"]["Collect"]["ItemProcessor"]["States"]["CollectTask"]["Retry"][0]["ErrorEquals"];
    for kind in ErrorKind::ALL {
        let listed = retried.as_array().unwrap().iter().any(|e| e == kind.name());
        assert_eq!(listed, kind.is_retryable(), "{kind:?}");
    }
    // Every substitution the definition uses is one the template provides.
    let text = serde_json::to_string(&def).unwrap();
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/template.yaml"
    ))
    .unwrap();
    for key in substitutions().keys() {
        assert!(text.contains(&format!("${{{key}}}")), "{key} unused");
        assert!(
            template.contains(&format!("{key}:")),
            "template.yaml does not substitute {key}"
        );
    }
}
