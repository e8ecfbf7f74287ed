//! A local runner for the state machine definition (`infra/statemachine.asl.json`): it follows
//! the ASL the way Step Functions does for the subset the definition uses — Task (Lambda
//! functions through an [`Invoker`], `sns:publish` recorded), Map (Distributed, with an S3
//! `ItemReader`, `ItemSelector`, bounded `MaxConcurrency`/`MaxConcurrencyPath`, tolerated
//! failure percentage), Choice, Pass, Succeed, Fail; `InputPath`, `Parameters`,
//! `ResultSelector`, `ResultPath`, `OutputPath`; `Retry` with backoff and `Catch`.
//!
//! JSONPath references are strict: a path that does not exist in the state's data fails the
//! execution with `States.Runtime`, as it does on AWS, so running the definition over the
//! handlers' real outputs checks that every path it uses exists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::emulator::FunctionError;

/// Calls a Lambda function by the name the definition's substitution resolves to.
pub trait Invoker: Send + Sync {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, FunctionError>>;
}

/// Reads an object for a Map's `ItemReader` (bucket, key).
pub type ObjectReader = Arc<dyn Fn(&str, &str) -> Result<Vec<u8>, String> + Send + Sync>;

/// An execution's failure: the ASL `Error` and `Cause`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepError {
    pub error: String,
    pub cause: String,
}

impl From<FunctionError> for StepError {
    fn from(e: FunctionError) -> Self {
        StepError {
            error: e.error_type,
            cause: e.error_message,
        }
    }
}

fn runtime(cause: impl Into<String>) -> StepError {
    StepError {
        error: "States.Runtime".into(),
        cause: cause.into(),
    }
}

/// What the execution did, for assertions.
#[derive(Clone, Default, Debug)]
pub struct Trace {
    /// (state name, effective input) of every state entered, in order (Map items interleave).
    pub states: Vec<(String, Value)>,
    /// Messages published to SNS: (topic, subject, message).
    pub notifications: Vec<(String, String, Value)>,
    /// Task attempts that failed and were retried: (state, error).
    pub retries: Vec<(String, String)>,
    /// Map items that failed after their retries.
    pub failed_items: usize,
}

pub struct Runner {
    definition: Value,
    /// `${Name}` → function name, as SAM's `DefinitionSubstitutions` would give ARNs.
    substitutions: HashMap<String, String>,
    invoker: Arc<dyn Invoker>,
    reader: ObjectReader,
    /// Multiplies every Retry interval (0 in tests: the policy is followed, not the clock).
    pub backoff_scale: f64,
    pub trace: Mutex<Trace>,
}

impl Runner {
    pub fn new(
        definition: Value,
        substitutions: HashMap<String, String>,
        invoker: Arc<dyn Invoker>,
        reader: ObjectReader,
    ) -> Runner {
        let mut definition = definition;
        mark_result_paths(&mut definition);
        Runner {
            definition,
            substitutions,
            invoker,
            reader,
            backoff_scale: 0.0,
            trace: Mutex::new(Trace::default()),
        }
    }

    /// Runs the execution from `StartAt` with `input`; returns its output.
    pub async fn run(&self, input: Value) -> Result<Value, StepError> {
        let def = self.definition.clone();
        self.run_states(&def, input, &json!({})).await
    }

    fn run_states<'a>(
        &'a self,
        machine: &'a Value,
        input: Value,
        context: &'a Value,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let states = machine["States"]
                .as_object()
                .ok_or_else(|| runtime("definition has no States"))?;
            let mut name = machine["StartAt"]
                .as_str()
                .ok_or_else(|| runtime("definition has no StartAt"))?
                .to_owned();
            let mut data = input;
            loop {
                let state = states
                    .get(&name)
                    .ok_or_else(|| runtime(format!("no state named {name}")))?;
                self.trace
                    .lock()
                    .unwrap()
                    .states
                    .push((name.clone(), data.clone()));
                let (output, next) = match self.run_state(&name, state, data, context).await {
                    Ok(r) => r,
                    Err((e, raw)) => match catch(state, &e) {
                        Some(catcher) => {
                            let err = json!({"Error": e.error, "Cause": e.cause});
                            let out = apply_result_path(raw, err, &catcher["ResultPath"])?;
                            (out, catcher["Next"].as_str().map(str::to_owned))
                        }
                        None => return Err(e),
                    },
                };
                data = output;
                match next {
                    Some(n) => name = n,
                    None => return Ok(data),
                }
            }
        })
    }

    /// Runs one state: its output and the next state (`None` at the end). On failure, the
    /// error and the state's raw input (for `Catch`).
    async fn run_state(
        &self,
        name: &str,
        state: &Value,
        raw: Value,
        context: &Value,
    ) -> Result<(Value, Option<String>), (StepError, Value)> {
        let next = || {
            if state["End"].as_bool() == Some(true) {
                None
            } else {
                state["Next"].as_str().map(str::to_owned)
            }
        };
        let fail = |e: StepError| (e, raw.clone());
        let kind = state["Type"].as_str().unwrap_or_default();
        match kind {
            "Succeed" => Ok((raw.clone(), None)),
            "Fail" => Err(fail(StepError {
                error: state["Error"].as_str().unwrap_or("States.Fail").into(),
                cause: state["Cause"].as_str().unwrap_or_default().into(),
            })),
            "Choice" => {
                let input = input_path(&raw, state).map_err(fail)?;
                for choice in state["Choices"].as_array().into_iter().flatten() {
                    if eval_choice(choice, &input).map_err(fail)? {
                        return Ok((raw.clone(), choice["Next"].as_str().map(str::to_owned)));
                    }
                }
                match state["Default"].as_str() {
                    Some(d) => Ok((raw.clone(), Some(d.to_owned()))),
                    None => Err(fail(StepError {
                        error: "States.NoChoiceMatched".into(),
                        cause: name.into(),
                    })),
                }
            }
            "Pass" | "Task" | "Map" => {
                let input = input_path(&raw, state).map_err(fail)?;
                let effective = match (&state["Parameters"], kind) {
                    (Value::Null, _) => input.clone(),
                    (p, _) => template(p, &input, context).map_err(fail)?,
                };
                let result = match kind {
                    "Pass" => match &state["Result"] {
                        Value::Null => effective,
                        r => r.clone(),
                    },
                    "Task" => self.task(name, state, effective).await.map_err(fail)?,
                    _ => self.map(name, state, &input).await.map_err(fail)?,
                };
                let result = match &state["ResultSelector"] {
                    Value::Null => result,
                    s => template(s, &result, context).map_err(fail)?,
                };
                let out =
                    apply_result_path(raw.clone(), result, &state["ResultPath"]).map_err(fail)?;
                let out = match state["OutputPath"].as_str() {
                    None => out,
                    Some(p) => path(&out, p, context).map_err(fail)?,
                };
                Ok((out, next()))
            }
            other => Err(fail(runtime(format!(
                "state {name}: type {other:?} is not supported by the local runner"
            )))),
        }
    }

    async fn task(&self, name: &str, state: &Value, input: Value) -> Result<Value, StepError> {
        let resource = state["Resource"].as_str().unwrap_or_default();
        let mut counts: HashMap<usize, u32> = HashMap::new();
        loop {
            let result = self.call(resource, input.clone()).await;
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let retriers = state["Retry"].as_array().cloned().unwrap_or_default();
            let Some((i, r)) = retriers
                .iter()
                .enumerate()
                .find(|(_, r)| matches_error(&r["ErrorEquals"], &e.error))
            else {
                return Err(e);
            };
            let attempts = counts.entry(i).or_insert(0);
            let max = r["MaxAttempts"].as_u64().unwrap_or(3) as u32;
            if *attempts >= max {
                return Err(e);
            }
            let interval = r["IntervalSeconds"].as_f64().unwrap_or(1.0);
            let rate = r["BackoffRate"].as_f64().unwrap_or(2.0);
            let mut delay = interval * rate.powi(*attempts as i32);
            if let Some(cap) = r["MaxDelaySeconds"].as_f64() {
                delay = delay.min(cap);
            }
            *attempts += 1;
            self.trace
                .lock()
                .unwrap()
                .retries
                .push((name.to_owned(), e.error.clone()));
            tokio::time::sleep(Duration::from_secs_f64(delay * self.backoff_scale)).await;
        }
    }

    async fn call(&self, resource: &str, input: Value) -> Result<Value, StepError> {
        if resource == "arn:aws:states:::sns:publish" {
            let topic = input["TopicArn"].as_str().unwrap_or_default().to_owned();
            let topic = self.resolve(&topic);
            let subject = input["Subject"].as_str().unwrap_or_default().to_owned();
            let message = input["Message"].clone();
            if topic.is_empty() || message.is_null() {
                return Err(runtime("sns:publish needs TopicArn and Message"));
            }
            self.trace
                .lock()
                .unwrap()
                .notifications
                .push((topic, subject, message));
            return Ok(json!({"MessageId": "local"}));
        }
        let function = self.resolve(resource);
        if function == resource {
            return Err(runtime(format!("unsupported Task resource {resource}")));
        }
        Ok(self.invoker.invoke(&function, input).await?)
    }

    /// `${Name}` → its substitution (unchanged when there is none).
    fn resolve(&self, text: &str) -> String {
        text.strip_prefix("${")
            .and_then(|t| t.strip_suffix('}'))
            .and_then(|k| self.substitutions.get(k))
            .cloned()
            .unwrap_or_else(|| text.to_owned())
    }

    async fn map(&self, name: &str, state: &Value, input: &Value) -> Result<Value, StepError> {
        let items: Vec<Value> = match &state["ItemReader"] {
            Value::Null => {
                let p = state["ItemsPath"].as_str().unwrap_or("$");
                match path(input, p, &json!({}))? {
                    Value::Array(a) => a,
                    other => {
                        return Err(runtime(format!(
                            "{name}: ItemsPath is not an array: {other}"
                        )));
                    }
                }
            }
            reader => {
                if reader["Resource"] != "arn:aws:states:::s3:getObject"
                    || reader["ReaderConfig"]["InputType"] != "JSON"
                {
                    return Err(runtime(format!(
                        "{name}: only JSON s3:getObject ItemReaders are supported"
                    )));
                }
                let args = template(&reader["Parameters"], input, &json!({}))?;
                let (bucket, key) = (
                    args["Bucket"].as_str().unwrap_or_default(),
                    args["Key"].as_str().unwrap_or_default(),
                );
                let bytes = (self.reader)(bucket, key).map_err(|e| StepError {
                    error: "States.ItemReaderFailed".into(),
                    cause: format!("s3://{bucket}/{key}: {e}"),
                })?;
                serde_json::from_slice(&bytes).map_err(|e| StepError {
                    error: "States.ItemReaderFailed".into(),
                    cause: format!("s3://{bucket}/{key}: not a JSON array: {e}"),
                })?
            }
        };
        let max = match (
            state["MaxConcurrency"].as_u64(),
            state["MaxConcurrencyPath"].as_str(),
        ) {
            (_, Some(p)) => path(input, p, &json!({}))?
                .as_u64()
                .ok_or_else(|| runtime(format!("{name}: MaxConcurrencyPath is not a number")))?,
            (Some(n), None) => n,
            (None, None) => 0,
        };
        let max = if max == 0 {
            items.len().max(1)
        } else {
            max as usize
        };
        let processor = state["ItemProcessor"].clone();
        let selector = state["ItemSelector"].clone();
        let total = items.len();
        let results: Vec<(usize, Result<Value, StepError>)> =
            futures::stream::iter(items.into_iter().enumerate())
                .map(|(i, item)| {
                    let processor = &processor;
                    let selector = &selector;
                    async move {
                        let ctx = json!({"Map": {"Item": {"Index": i, "Value": item}}});
                        let item_input = match selector {
                            Value::Null => Ok(item.clone()),
                            s => template(s, input, &ctx),
                        };
                        let r = match item_input {
                            Ok(v) => self.run_states(processor, v, &ctx).await,
                            Err(e) => Err(e),
                        };
                        (i, r)
                    }
                })
                .buffer_unordered(max)
                .collect()
                .await;
        let failed = results.iter().filter(|(_, r)| r.is_err()).count();
        self.trace.lock().unwrap().failed_items += failed;
        let tolerated_pct = state["ToleratedFailurePercentage"].as_f64().unwrap_or(0.0);
        let tolerated_count = state["ToleratedFailureCount"].as_u64().unwrap_or(0) as usize;
        if failed > tolerated_count && (failed as f64) * 100.0 > tolerated_pct * total as f64 {
            let first = results
                .iter()
                .find_map(|(_, r)| r.as_ref().err())
                .cloned()
                .unwrap();
            return Err(StepError {
                error: "States.ExceedToleratedFailureThreshold".into(),
                cause: format!(
                    "{failed} of {total} items failed; first: {}: {}",
                    first.error, first.cause
                ),
            });
        }
        let mut sorted = results;
        sorted.sort_by_key(|(i, _)| *i);
        Ok(Value::Array(
            sorted
                .into_iter()
                .map(|(_, r)| r.unwrap_or(Value::Null))
                .collect(),
        ))
    }
}

fn matches_error(equals: &Value, error: &str) -> bool {
    equals.as_array().into_iter().flatten().any(|e| {
        let e = e.as_str().unwrap_or_default();
        e == error
            || e == "States.ALL"
            || (e == "States.TaskFailed" && !error.starts_with("States."))
    })
}

fn catch<'a>(state: &'a Value, e: &StepError) -> Option<&'a Value> {
    state["Catch"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| matches_error(&c["ErrorEquals"], &e.error))
}

fn input_path(raw: &Value, state: &Value) -> Result<Value, StepError> {
    match &state["InputPath"] {
        Value::Null => Ok(raw.clone()),
        Value::String(p) => path(raw, p, &json!({})),
        other => Err(runtime(format!("InputPath {other} is not a path"))),
    }
}

/// Resolves a reference path (`$`, `$.a.b`, `$$.Map.Item.Value.x`); missing is an error.
pub fn path(data: &Value, p: &str, context: &Value) -> Result<Value, StepError> {
    let (root, rest) = if let Some(rest) = p.strip_prefix("$$") {
        (context, rest)
    } else if let Some(rest) = p.strip_prefix('$') {
        (data, rest)
    } else {
        return Err(runtime(format!("{p:?} is not a JSONPath")));
    };
    let mut v = root;
    for seg in rest.split('.').filter(|s| !s.is_empty()) {
        v = v.get(seg).ok_or_else(|| {
            runtime(format!(
                "JSONPath {p} could not be found in the input {}",
                truncate(root)
            ))
        })?;
    }
    Ok(v.clone())
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!("{}...", &s[..300])
    } else {
        s
    }
}

/// Evaluates a `Parameters`/`ItemSelector`/`ResultSelector` template: keys ending in `.$`
/// take the value at their path.
pub fn template(t: &Value, data: &Value, context: &Value) -> Result<Value, StepError> {
    match t {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                match k.strip_suffix(".$") {
                    Some(k) => {
                        let p = v
                            .as_str()
                            .ok_or_else(|| runtime(format!("{k}.$ is not a path")))?;
                        if p.starts_with("States.") {
                            return Err(runtime(format!("intrinsic {p} is not supported")));
                        }
                        out.insert(k.to_owned(), path(data, p, context)?);
                    }
                    None => {
                        out.insert(k.clone(), template(v, data, context)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => Ok(Value::Array(
            a.iter()
                .map(|v| template(v, data, context))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

fn apply_result_path(raw: Value, result: Value, rp: &Value) -> Result<Value, StepError> {
    match rp {
        // Explicit null: the input passes through (absent ones were made "$" on load).
        Value::Null => Ok(raw),
        Value::String(p) if p == "$" => Ok(result),
        Value::String(p) => {
            let rest = p
                .strip_prefix("$.")
                .ok_or_else(|| runtime(format!("ResultPath {p} is not supported")))?;
            let mut out = raw;
            let mut cur = &mut out;
            let segs: Vec<&str> = rest.split('.').collect();
            for (i, seg) in segs.iter().enumerate() {
                let obj = cur
                    .as_object_mut()
                    .ok_or_else(|| runtime(format!("ResultPath {p}: input is not an object")))?;
                if i + 1 == segs.len() {
                    obj.insert((*seg).to_owned(), result);
                    break;
                }
                cur = obj.entry(*seg).or_insert_with(|| json!({}));
            }
            Ok(out)
        }
        other => Err(runtime(format!("ResultPath {other} is not a path"))),
    }
}

/// Makes absent `ResultPath`s explicit (`"$"`): `state["ResultPath"]` is `Null` both when
/// absent and when explicitly null ("discard the result"), and the runner needs the difference.
pub fn mark_result_paths(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if matches!(
                o.get("Type").and_then(Value::as_str),
                Some("Task" | "Map" | "Pass")
            ) && !o.contains_key("ResultPath")
            {
                o.insert("ResultPath".into(), json!("$"));
            }
            if let Some(Value::Array(catchers)) = o.get_mut("Catch") {
                for c in catchers {
                    if let Some(c) = c.as_object_mut()
                        && !c.contains_key("ResultPath")
                    {
                        c.insert("ResultPath".into(), json!("$"));
                    }
                }
            }
            for (_, child) in o.iter_mut() {
                mark_result_paths(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mark_result_paths),
        _ => {}
    }
}

fn eval_choice(c: &Value, input: &Value) -> Result<bool, StepError> {
    if let Some(all) = c["And"].as_array() {
        for x in all {
            if !eval_choice(x, input)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = c["Or"].as_array() {
        for x in any {
            if eval_choice(x, input)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if !c["Not"].is_null() {
        return Ok(!eval_choice(&c["Not"], input)?);
    }
    let var = c["Variable"]
        .as_str()
        .ok_or_else(|| runtime("choice rule without Variable"))?;
    if let Some(present) = c["IsPresent"].as_bool() {
        return Ok(path(input, var, &json!({})).is_ok() == present);
    }
    let v = path(input, var, &json!({}))?;
    if let Some(b) = c.get("BooleanEquals") {
        return Ok(&v == b);
    }
    if let Some(s) = c.get("StringEquals") {
        return Ok(&v == s);
    }
    if let Some(n) = c["NumericGreaterThan"].as_f64() {
        return Ok(v.as_f64().is_some_and(|x| x > n));
    }
    Err(runtime(format!("unsupported choice rule {c}")))
}
