//! moto's S3 server on loopback for the CLI-level S3 tests (the minimal part of
//! `crates/lake/tests/it/moto.rs`): started on first use under a `sh` that kills it when this
//! test binary exits, reset between tests, one test at a time. `PATCHLAKE_SKIP_S3_TESTS=1`
//! skips the tests; otherwise a missing `moto_server` fails them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

/// The account moto answers as: the owner of every bucket it creates.
pub const MOTO_ACCOUNT: &str = "123456789012";
pub const BUCKET: &str = "patchlake-cli-test";

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

fn start() -> Server {
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("moto_server").is_file())
    });
    assert!(
        on_path,
        "moto_server is not on PATH: run scripts/test, which installs it (or `pip install \
         'moto[server]'`); PATCHLAKE_SKIP_S3_TESTS=1 skips the S3 tests"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let log = std::env::temp_dir().join(format!("patchlake-cli-moto-{port}.log"));
    let child = Command::new("sh")
        .args([
            "-c",
            r#"moto_server -H 127.0.0.1 -p "$0" >"$1" 2>&1 & pid=$!; read -r _; kill "$pid""#,
        ])
        .arg(port.to_string())
        .arg(&log)
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

/// Exclusive use of a freshly reset moto server.
pub struct Moto {
    pub endpoint: String,
    _guard: MutexGuard<'static, ()>,
}

impl Moto {
    pub async fn start() -> Moto {
        let guard = LOCK.lock().await;
        let server = SERVER.get_or_init(start);
        reset(server.port).expect("resetting moto");
        Moto {
            endpoint: server.endpoint.clone(),
            _guard: guard,
        }
    }
}
