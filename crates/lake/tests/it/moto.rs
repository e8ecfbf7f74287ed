//! moto's S3 server on loopback, shared by the test binary, and real aws-sdk-s3 clients for it.
//!
//! The server (`moto_server -H 127.0.0.1 -p <free port>`) starts on first use and lives as long
//! as the test binary: it runs under a `sh` that kills it when its stdin (a pipe held by this
//! process) closes, so it dies with the binary even on a panic or a kill. S3 tests run one at a
//! time ([`Moto::bucket`] holds a lock) and each starts from `POST /moto-api/reset` and a fresh
//! bucket. `PATCHLAKE_SKIP_S3_TESTS=1` skips them (developer machines without moto); otherwise
//! a missing `moto_server` fails the tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

/// The account moto answers as: the owner of every bucket it creates.
pub const MOTO_ACCOUNT: &str = "123456789012";
pub const BUCKET: &str = "patchlake-test";

pub fn skipped() -> bool {
    let skip = std::env::var("PATCHLAKE_SKIP_S3_TESTS").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("PATCHLAKE_SKIP_S3_TESTS=1: skipping an S3 test (CI runs them against moto)");
    }
    skip
}

struct Server {
    endpoint: String,
    port: u16,
    log: std::path::PathBuf,
    _child: Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static LOCK: AsyncMutex<()> = AsyncMutex::const_new(());

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn start() -> Server {
    assert!(
        on_path("moto_server"),
        "moto_server is not on PATH: the lake's S3 tests run against moto's server. Run \
         scripts/test, which installs it (or `pip install 'moto[server]'`); on a developer \
         machine, PATCHLAKE_SKIP_S3_TESTS=1 skips them"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let log = std::env::temp_dir().join(format!("patchlake-moto-{port}.log"));
    let child = Command::new("sh")
        .args([
            "-c",
            r#"moto_server -H 127.0.0.1 -p "$0" >"$1" 2>&1 & pid=$!; read -r _; kill "$pid""#,
        ])
        .arg(port.to_string())
        .arg(&log)
        // Lets the tests exercise multipart uploads with small parts (S3's minimum is 5 MiB).
        .env("S3_UPLOAD_PART_MIN_SIZE", "1024")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawning moto_server");
    let server = Server {
        endpoint: format!("http://127.0.0.1:{port}"),
        port,
        log,
        _child: child,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while reset(server.port).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on port {} within 60 s; its log ({}):\n{}",
            server.port,
            server.log.display(),
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// `POST /moto-api/reset`: forget every bucket and object.
fn reset(port: u16) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "moto reset: {}",
            response.lines().next().unwrap_or("")
        )))
    }
}

/// Requests seen by a client: the operation and its `x-amz-expected-bucket-owner` header.
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Exclusive use of the moto server with a fresh bucket.
pub struct Moto {
    pub endpoint: String,
    pub seen: Seen,
    _guard: MutexGuard<'static, ()>,
}

impl Moto {
    /// Waits for the server, resets it and creates [`BUCKET`].
    pub async fn bucket() -> Moto {
        let guard = LOCK.lock().await;
        let server = SERVER.get_or_init(start);
        reset(server.port).expect("resetting moto");
        let moto = Moto {
            endpoint: server.endpoint.clone(),
            seen: Seen::default(),
            _guard: guard,
        };
        moto.client()
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("creating the test bucket");
        moto.seen.lock().unwrap().clear();
        moto
    }

    /// A client as the client factory builds one, pointed at moto. It records every request
    /// and answers one whose `ExpectedBucketOwner` is not [`MOTO_ACCOUNT`] with S3's 403
    /// (moto does not check the header).
    pub fn client(&self) -> Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .interceptor(OwnerCheck {
                seen: self.seen.clone(),
            })
            .build();
        Client::from_conf(config)
    }

    /// Operations sent without `ExpectedBucketOwner`, or with another owner than `owner`.
    pub fn without_owner(&self, owner: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, o)| o.as_deref() != Some(owner))
            .map(|(op, _)| op.clone())
            .collect()
    }
}

#[derive(Debug)]
struct OwnerCheck {
    seen: Seen,
}

#[derive(Debug, Clone)]
struct WrongOwner {
    head: bool,
}

impl Storable for WrongOwner {
    type Storer = StoreReplace<Self>;
}

impl Intercept for OwnerCheck {
    fn name(&self) -> &'static str {
        "OwnerCheck"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let owner = request
            .headers()
            .get("x-amz-expected-bucket-owner")
            .map(str::to_owned);
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_default();
        if owner.as_deref().is_some_and(|o| o != MOTO_ACCOUNT) {
            let head = request.method() == "HEAD";
            cfg.interceptor_state().store_put(WrongOwner { head });
        } else {
            cfg.interceptor_state().unset::<WrongOwner>();
        }
        self.seen.lock().unwrap().push((op, owner));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(wrong) = cfg.load::<WrongOwner>() {
            let body = if wrong.head {
                SdkBody::empty()
            } else {
                SdkBody::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
                     <Message>Access Denied</Message></Error>",
                )
            };
            *context.response_mut() =
                Response::new(StatusCode::try_from(403).expect("valid status"), body);
        }
        Ok(())
    }
}
