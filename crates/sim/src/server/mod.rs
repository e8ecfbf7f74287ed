//! Loopback HTTP server speaking the AWS wire protocols for a [`Fleet`].
//!
//! One axum route, `POST /`, dispatches on the protocol: an `X-Amz-Target` of
//! `AmazonSSM.<Op>` is SSM and `AWSOrganizationsV20161128.<Op>` is Organizations (both
//! awsJson1_1); a form-encoded body with an `Action` is STS (awsQuery). The Account
//! Management API (REST-JSON) has its own route, `POST /listRegions`. Point the aws-sdk
//! clients at [`SimHandle::endpoint`] with `endpoint_url`.
//!
//! Identity: any credentials may call STS AssumeRole and Organizations (they stand for the
//! management account's hub identity); SSM accepts only session credentials issued by
//! AssumeRole, and serves the account the session belongs to, in the region of the SigV4
//! credential scope.

mod account;
mod auth;
mod faults;
mod malformed;
mod orgs;
mod paging;
mod ssm;
mod stats;
mod sts;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{FaultConfig, Faults, Malformation, Throttle};
pub use stats::Stats;

use crate::fleet::Fleet;
use crate::{Error, Result};
use auth::Sessions;
use paging::Paginator;
use stats::StatsRecorder;
use wire::{ApiError, RequestIds};

/// Server settings fixed at start; faults stay mutable through [`SimHandle::faults`].
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// AssumeRole session length when the request gives no DurationSeconds.
    pub default_session_seconds: u32,
    /// Smallest DurationSeconds accepted (AWS: 900). Lower it to let tests expire sessions.
    pub min_session_seconds: u32,
    /// Largest DurationSeconds accepted (AWS: the role's maximum, up to 43200).
    pub max_session_seconds: u32,
    /// Faults in force from the first request.
    pub faults: FaultConfig,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            port: None,
            default_session_seconds: 3600,
            min_session_seconds: 900,
            max_session_seconds: 43_200,
            faults: FaultConfig::default(),
        }
    }
}

pub(crate) struct AppState {
    pub fleet: Arc<Fleet>,
    pub options: SimOptions,
    pub sessions: Sessions,
    pub faults: Faults,
    pub stats: StatsRecorder,
    pub pages: Paginator,
    pub request_ids: RequestIds,
}

pub struct SimServer;

impl SimServer {
    /// Binds 127.0.0.1 (port from `options`, else any free port) and serves until
    /// [`SimHandle::shutdown`] or until the handle is dropped.
    pub async fn start(fleet: Arc<Fleet>, options: SimOptions) -> Result<SimHandle> {
        fleet.spec().validate()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port.unwrap_or(0)));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let addr = listener.local_addr()?;
        let seed = fleet.spec().seed;
        let state = Arc::new(AppState {
            faults: Faults::new(options.faults.clone(), seed),
            sessions: Sessions::new(seed),
            stats: StatsRecorder::default(),
            pages: Paginator::new(seed),
            request_ids: RequestIds::default(),
            fleet,
            options,
        });
        let app = Router::new()
            .route("/", post(dispatch))
            .route("/listRegions", post(list_regions))
            .with_state(Arc::clone(&state));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "simulator server stopped with an error");
            }
        });
        tracing::debug!(%addr, "simulator listening");
        Ok(SimHandle {
            addr,
            state,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, for `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.state.fleet
    }

    pub fn stats(&self) -> Stats {
        self.state.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.state.stats.reset();
    }

    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Stops accepting, lets in-flight requests finish (at most 5 s), then returns.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

const SSM_PREFIX: &str = "AmazonSSM.";
const ORGS_PREFIX: &str = "AWSOrganizationsV20161128.";

async fn dispatch(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let latency = state.faults.delay();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let request_id = state.request_ids.next();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match target {
        Some(t) if t.starts_with(SSM_PREFIX) => {
            ssm::handle(&state, &t[SSM_PREFIX.len()..], &headers, &body, &request_id)
        }
        Some(t) if t.starts_with(ORGS_PREFIX) => orgs::handle(
            &state,
            &t[ORGS_PREFIX.len()..],
            &headers,
            &body,
            &request_id,
        ),
        Some(t) => {
            state
                .stats
                .record(&t, None, Some("UnknownOperationException"));
            wire::json_error(
                &ApiError::bad_request(
                    "UnknownOperationException",
                    format!("Unknown operation {t}"),
                ),
                &request_id,
            )
        }
        None => sts::handle(&state, &headers, &body, &request_id),
    }
}

async fn list_regions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = state.faults.delay();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let request_id = state.request_ids.next();
    account::list_regions(&state, &headers, &body, &request_id)
}

/// Parses an awsJson request body; an empty body is an empty input structure.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(ApiError::serialization)
}

/// Checks an optional MaxResults against [min, max] and applies the default.
pub(crate) fn max_results(
    value: Option<i64>,
    min: i64,
    max: i64,
    default: usize,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(v) if v < min => Err(ApiError::constraint(
            v,
            "maxResults",
            &format!("Member must have value greater than or equal to {min}"),
        )),
        Some(v) if v > max => Err(ApiError::constraint(
            v,
            "maxResults",
            &format!("Member must have value less than or equal to {max}"),
        )),
        Some(v) => Ok(v as usize),
    }
}
