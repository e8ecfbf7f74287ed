//! moto's S3 server on loopback, shared by a test binary.
//!
//! The server (`moto_server -H 127.0.0.1 -p <free port>`) starts on first use and lives as
//! long as the test binary: it runs under a `sh` that kills it when its stdin (a pipe held by
//! this process) closes, so it dies with the binary even on a panic or a kill. S3 tests run
//! one at a time ([`Moto::start`] holds a lock) and each starts from `POST /moto-api/reset`.
//! `PATCHLAKE_SKIP_S3_TESTS=1` skips them (developer machines without moto); otherwise a
//! missing `moto_server` fails the tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

/// The account moto answers as: the owner of every bucket it creates.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// Whether S3 tests are skipped (`PATCHLAKE_SKIP_S3_TESTS=1`); says so on stderr.
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

fn start_server() -> Server {
    assert!(
        on_path("moto_server"),
        "moto_server is not on PATH: the S3 tests run against moto's server. Run scripts/test, \
         which installs it (or `pip install 'moto[server]'`); on a developer machine, \
         PATCHLAKE_SKIP_S3_TESTS=1 skips them"
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
        // Lets tests exercise multipart uploads with small parts (S3's minimum is 5 MiB).
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

/// Exclusive use of a freshly reset moto server, for as long as it lives.
pub struct Moto {
    pub endpoint: String,
    _guard: MutexGuard<'static, ()>,
}

impl Moto {
    /// Waits for the lock (one S3 test at a time), starts the server on first use, and resets
    /// it.
    pub async fn start() -> Moto {
        let guard = LOCK.lock().await;
        let server = SERVER.get_or_init(start_server);
        reset(server.port).expect("resetting moto");
        Moto {
            endpoint: server.endpoint.clone(),
            _guard: guard,
        }
    }
}
