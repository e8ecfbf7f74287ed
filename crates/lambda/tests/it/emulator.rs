//! A Lambda Runtime API emulator: each execution environment is a real handler binary started
//! as a process with `AWS_LAMBDA_RUNTIME_API` pointing at its own loopback axum server, which
//! serves `/2018-06-01/runtime/invocation/next`, `/response`, `/error` and `/init/error` the
//! way the Lambda service does. A function is a pool of such environments, grown on demand up
//! to a limit, one invocation per environment at a time (Lambda's concurrency model).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot};

/// How an invocation failed, as the Lambda service reports it to Step Functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionError {
    /// `errorType`: the handler's, or `Runtime.ExitError` / `Runtime.InitError`.
    pub error_type: String,
    pub error_message: String,
}

type Outcome = Result<Value, FunctionError>;

struct Pending {
    request_id: String,
    event: Value,
    done: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Timings {
    started: Option<Instant>,
    first_next: Option<Instant>,
}

struct EnvState {
    queue: Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<FunctionError>>,
    timings: std::sync::Mutex<Timings>,
    function: String,
}

/// One execution environment: a handler process and its Runtime API server.
pub struct Environment {
    tx: mpsc::Sender<Pending>,
    state: Arc<EnvState>,
    child: Arc<Mutex<tokio::process::Child>>,
    pid: u32,
    server: tokio::task::JoinHandle<()>,
    next_id: u64,
}

const API: &str = "/2018-06-01/runtime";

async fn next(State(s): State<Arc<EnvState>>) -> Response {
    {
        let mut t = s.timings.lock().unwrap();
        if t.first_next.is_none() {
            t.first_next = Some(Instant::now());
        }
    }
    let pending = s.queue.lock().await.recv().await;
    let Some(p) = pending else {
        // The environment is shutting down: the runtime's poll just stays unanswered.
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
    let arn = format!(
        "arn:aws:lambda:us-east-1:000000000000:function:{}",
        s.function
    );
    for (k, v) in [
        ("lambda-runtime-aws-request-id", p.request_id.clone()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        ("lambda-runtime-invoked-function-arn", arn),
        (
            "lambda-runtime-trace-id",
            format!("Root=1-{}", p.request_id),
        ),
        ("content-type", "application/json".to_owned()),
    ] {
        headers.insert(k, HeaderValue::from_str(&v).unwrap());
    }
    s.in_flight.lock().await.insert(p.request_id, p.done);
    (StatusCode::OK, headers, p.event.to_string()).into_response()
}

async fn response(
    State(s): State<Arc<EnvState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let Some(done) = s.in_flight.lock().await.remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = done.send(Ok(value));
    StatusCode::ACCEPTED
}

fn parse_error(headers: &HeaderMap, body: &[u8]) -> FunctionError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|h| h.to_str().ok());
    FunctionError {
        error_type: v["errorType"]
            .as_str()
            .or(header_type)
            .unwrap_or("Unhandled")
            .to_owned(),
        error_message: v["errorMessage"].as_str().unwrap_or_default().to_owned(),
    }
}

async fn error(
    State(s): State<Arc<EnvState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(done) = s.in_flight.lock().await.remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let _ = done.send(Err(parse_error(&headers, &body)));
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<EnvState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    *s.init_error.lock().await = Some(parse_error(&headers, &body));
    StatusCode::ACCEPTED
}

impl Environment {
    /// Starts `binary` as an execution environment of `function` with `env` (nothing is
    /// inherited from the test process but `PATH`). `_HANDLER` is the function's name, as in
    /// `infra/template.yaml`, where each function's `Handler` is its name; `env` may override it.
    pub async fn start(
        function: &str,
        binary: &std::path::Path,
        env: &[(String, String)],
    ) -> Environment {
        let (tx, rx) = mpsc::channel(1);
        let state = Arc::new(EnvState {
            queue: Mutex::new(rx),
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            timings: std::sync::Mutex::new(Timings::default()),
            function: function.to_owned(),
        });
        let app = Router::new()
            .route(&format!("{API}/invocation/next"), get(next))
            .route(&format!("{API}/invocation/{{id}}/response"), post(response))
            .route(&format!("{API}/invocation/{{id}}/error"), post(error))
            .route(&format!("{API}/init/error"), post(init_error))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env(patchlake_lambda::runtime::HANDLER_VAR, function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        state.timings.lock().unwrap().started = Some(started);
        let pid = child.id().unwrap_or_default();
        Environment {
            tx,
            state,
            child: Arc::new(Mutex::new(child)),
            pid,
            server,
            next_id: 0,
        }
    }

    /// Invokes the function once; a process that exits or reports an init error fails the
    /// invocation as Lambda does (`Runtime.ExitError`, `Runtime.InitError`).
    pub async fn invoke(&mut self, event: Value) -> Outcome {
        self.next_id += 1;
        let request_id = format!("{:08x}-{}", self.pid, self.next_id);
        let (done, result) = oneshot::channel();
        let exited = |detail: String| FunctionError {
            error_type: "Runtime.ExitError".to_owned(),
            error_message: detail,
        };
        if self
            .tx
            .send(Pending {
                request_id,
                event,
                done,
            })
            .await
            .is_err()
        {
            return Err(exited("environment closed".into()));
        }
        let child = self.child.clone();
        tokio::select! {
            r = result => r.unwrap_or_else(|_| Err(exited("invocation dropped".into()))),
            status = async move { child.lock().await.wait().await } => {
                if let Some(e) = self.state.init_error.lock().await.clone() {
                    return Err(FunctionError { error_type: "Runtime.InitError".into(), error_message: format!("{}: {}", e.error_type, e.error_message) });
                }
                Err(exited(format!("process exited: {status:?}")))
            }
        }
    }

    /// Process start to the runtime's first `next` request.
    pub fn init_time(&self) -> Option<Duration> {
        let t = self.state.timings.lock().unwrap();
        Some(t.first_next? - t.started?)
    }

    /// Peak resident set size of the process so far, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Waits until the runtime has polled for its first invocation (init done).
    pub async fn wait_ready(&self) {
        for _ in 0..2000 {
            if self.init_time().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!(
            "{}: the runtime never asked for an invocation",
            self.state.function
        );
    }

    pub async fn shutdown(self) {
        let _ = self.child.lock().await.kill().await;
        self.server.abort();
    }
}

/// A function: a pool of environments, grown on demand up to `max` concurrent ones.
pub struct Function {
    pub name: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    idle: Mutex<Vec<Environment>>,
    limit: Semaphore,
    pub started: std::sync::atomic::AtomicUsize,
}

impl Function {
    pub fn new(name: &str, binary: PathBuf, env: Vec<(String, String)>, max: usize) -> Function {
        Function {
            name: name.to_owned(),
            binary,
            env,
            idle: Mutex::new(Vec::new()),
            limit: Semaphore::new(max),
            started: Default::default(),
        }
    }

    pub async fn invoke(&self, event: Value) -> Outcome {
        let _permit = self.limit.acquire().await.unwrap();
        let env = self.idle.lock().await.pop();
        let mut env = match env {
            Some(e) => e,
            None => {
                self.started
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Environment::start(&self.name, &self.binary, &self.env).await
            }
        };
        let out = env.invoke(event).await;
        if matches!(&out, Err(e) if e.error_type.starts_with("Runtime.")) {
            env.shutdown().await;
        } else {
            self.idle.lock().await.push(env);
        }
        out
    }

    pub async fn shutdown(&self) {
        for env in self.idle.lock().await.drain(..) {
            env.shutdown().await;
        }
    }
}
