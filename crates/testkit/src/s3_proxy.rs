//! A loopback HTTP proxy in front of an S3 endpoint (moto) that injects S3's failures.
//!
//! Point the real aws-sdk-s3 client (or object_store) at [`S3Proxy::endpoint`] with path-style
//! addressing. For each request the proxy draws, from one seeded stream:
//! - a delay ([`S3Faults::latency`] with [`S3Faults::latency_probability`]);
//! - an error instead of forwarding (`error_probability`): 503 `SlowDown` or 500
//!   `InternalError`, half and half — the request never reached S3;
//! - a lost response (`lost_response_probability`): the request is forwarded and done, but
//!   the client gets 500 `InternalError` — a retry meets the write already made.
//!
//! It records the S3 action (IAM name) of every request it saw, for least-privilege checks.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;

/// What the proxy injects; the default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct S3Faults {
    /// Probability in [0, 1] that a request is answered 503 SlowDown / 500 InternalError
    /// without being forwarded.
    pub error_probability: f64,
    /// Probability in [0, 1] that a request is forwarded but its response replaced by 500.
    pub lost_response_probability: f64,
    /// Probability in [0, 1] that a request waits [`Self::latency`] first.
    pub latency_probability: f64,
    pub latency: Duration,
    pub seed: u64,
    /// Writes asking for SSE-KMS with this key are refused as S3 refuses them when the caller
    /// may not use the key: 403 `AccessDenied`, "not authorized to perform:
    /// kms:GenerateDataKey" (moto itself accepts any key id).
    pub deny_kms_key: Option<String>,
}

/// What the proxy did since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    pub requests: u64,
    /// 503 SlowDown answers (not forwarded).
    pub slow_downs: u64,
    /// 500 InternalError answers (not forwarded).
    pub internal_errors: u64,
    /// Forwarded requests whose response was replaced by a 500.
    pub lost_responses: u64,
    pub delayed: u64,
    /// IAM action (`s3:PutObject`, ...) → requests.
    pub actions: BTreeMap<String, u64>,
}

struct ProxyState {
    upstream: String,
    client: Client<HttpConnector, Full<Bytes>>,
    faults: Mutex<S3Faults>,
    rng: Mutex<ChaCha8Rng>,
    stats: Mutex<ProxyStats>,
}

/// A running proxy; dropping it stops it.
pub struct S3Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl S3Proxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`) on a free loopback port.
    pub async fn start(upstream: &str, faults: S3Faults) -> std::io::Result<S3Proxy> {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(faults.seed)),
            faults: Mutex::new(faults),
            stats: Mutex::new(ProxyStats::default()),
        });
        let app = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&state));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(S3Proxy {
            addr,
            state,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url` / `lake.endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> ProxyStats {
        lock(&self.state.stats).clone()
    }

    /// Replaces the faults (the random stream restarts from their seed).
    pub fn set_faults(&self, faults: S3Faults) {
        *lock(&self.state.rng) = ChaCha8Rng::seed_from_u64(faults.seed);
        *lock(&self.state.faults) = faults;
    }
}

impl Drop for S3Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

enum Fault {
    None,
    SlowDown,
    Internal,
    Lost,
}

async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let action = s3_action(
        &parts.method,
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
    );
    let denied_key = lock(&state.faults).deny_kms_key.clone();
    let requested_key = parts
        .headers
        .get("x-amz-server-side-encryption-aws-kms-key-id")
        .and_then(|v| v.to_str().ok());
    if let Some(key) = denied_key
        && requested_key == Some(key.as_str())
    {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &format!(
                "User: arn:aws:sts::123456789012:assumed-role/patchlake-collect/test is not \
                 authorized to perform: kms:GenerateDataKey on resource: {key} because no \
                 identity-based policy allows the kms:GenerateDataKey action"
            ),
            parts.method == Method::HEAD,
        );
    }
    let (delay, fault) = {
        let f = lock(&state.faults).clone();
        let mut rng = lock(&state.rng);
        let delay = f.latency_probability > 0.0 && rng.random_bool(f.latency_probability.min(1.0));
        let fault = if f.error_probability > 0.0 && rng.random_bool(f.error_probability.min(1.0)) {
            if rng.random_bool(0.5) {
                Fault::SlowDown
            } else {
                Fault::Internal
            }
        } else if f.lost_response_probability > 0.0
            && rng.random_bool(f.lost_response_probability.min(1.0))
        {
            Fault::Lost
        } else {
            Fault::None
        };
        (delay.then_some(f.latency), fault)
    };
    {
        let mut s = lock(&state.stats);
        s.requests += 1;
        *s.actions.entry(action.to_owned()).or_default() += 1;
        s.delayed += u64::from(delay.is_some());
        match fault {
            Fault::SlowDown => s.slow_downs += 1,
            Fault::Internal => s.internal_errors += 1,
            Fault::Lost => s.lost_responses += 1,
            Fault::None => {}
        }
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let head = parts.method == Method::HEAD;
    match fault {
        Fault::SlowDown => {
            return s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
                head,
            );
        }
        Fault::Internal => {
            return s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
                head,
            );
        }
        _ => {}
    }
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut upstream = http::Request::builder()
        .method(parts.method.clone())
        .uri(format!("{}{path_and_query}", state.upstream));
    for (name, value) in &parts.headers {
        if name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
            || name == header::CONTENT_LENGTH
            || name == header::EXPECT
        {
            continue;
        }
        upstream = upstream.header(name, value);
    }
    let upstream = match upstream.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let answer = match state.client.request(upstream).await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    };
    let (answer_parts, answer_body) = answer.into_parts();
    let bytes = match answer_body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    };
    if matches!(fault, Fault::Lost) {
        return s3_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
            head,
        );
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = answer_parts.status;
    for (name, value) in &answer_parts.headers {
        if name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            continue;
        }
        response.headers_mut().append(name, value.clone());
    }
    response
}

fn s3_error(status: StatusCode, code: &str, message: &str, head: bool) -> Response {
    let body = if head {
        String::new()
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>PROXYFAULT</RequestId></Error>"
        )
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

/// The IAM action S3 authorizes a path-style REST request under (`s3:PutObject` for every
/// part of a multipart upload, `s3:ListBucket` for HEAD bucket and ListObjectsV2, ...).
pub fn s3_action(method: &Method, path: &str, query: &str) -> &'static str {
    let has = |key: &str| {
        query
            .split('&')
            .any(|kv| kv == key || kv.starts_with(&format!("{key}=")))
    };
    // "/bucket" or "/bucket/" addresses the bucket; "/bucket/key..." an object.
    let trimmed = path.trim_start_matches('/');
    let object = trimmed
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    match (method.as_str(), object) {
        ("GET", false) | ("HEAD", false) if has("location") => "s3:GetBucketLocation",
        ("GET", false) if has("uploads") => "s3:ListBucketMultipartUploads",
        ("GET", false) | ("HEAD", false) => "s3:ListBucket",
        ("PUT", false) => "s3:CreateBucket",
        ("POST", false) if has("delete") => "s3:DeleteObject",
        ("DELETE", false) => "s3:DeleteBucket",
        ("GET", true) if has("uploadId") => "s3:ListMultipartUploadParts",
        ("GET", true) | ("HEAD", true) => "s3:GetObject",
        ("PUT", true) | ("POST", true) => "s3:PutObject",
        ("DELETE", true) if has("uploadId") => "s3:AbortMultipartUpload",
        ("DELETE", true) => "s3:DeleteObject",
        _ => "s3:Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_requests_map_to_iam_actions() {
        let a =
            |m: &str, p: &str, q: &str| s3_action(&Method::from_bytes(m.as_bytes()).unwrap(), p, q);
        assert_eq!(a("GET", "/b", "list-type=2&prefix=x"), "s3:ListBucket");
        assert_eq!(a("HEAD", "/b", ""), "s3:ListBucket");
        assert_eq!(a("PUT", "/b/k/x.parquet", ""), "s3:PutObject");
        assert_eq!(a("POST", "/b/k", "uploads"), "s3:PutObject");
        assert_eq!(a("PUT", "/b/k", "partNumber=1&uploadId=u"), "s3:PutObject");
        assert_eq!(a("DELETE", "/b/k", "uploadId=u"), "s3:AbortMultipartUpload");
        assert_eq!(a("GET", "/b/k", ""), "s3:GetObject");
        assert_eq!(a("HEAD", "/b/k", ""), "s3:GetObject");
        assert_eq!(a("POST", "/b", "delete"), "s3:DeleteObject");
        assert_eq!(a("DELETE", "/b/k", ""), "s3:DeleteObject");
        assert_eq!(a("PUT", "/b", ""), "s3:CreateBucket");
    }
}
