//! Credentials never leak: a collection at trace log level, then reports and an evidence
//! bundle, with recognizable starting credentials; neither they nor any session the
//! simulator issued may appear in any output, log, lake file or bundle.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness;

const ACCESS_KEY: &str = "AKIACANARYPATCHLAKE7";
const SECRET_KEY: &str = "canary-secret-Zq8vWm3kT9xR2pL6nB4yHc1";
const SESSION_TOKEN: &str = "canary-token-FwoGZXIvYXdzEPatchlakeNeverLogThis";
/// Every session token the simulator issues starts so (like STS's own).
const SIM_TOKEN_PREFIX: &str = "IQoJb3JpZ2luX2VjE";

fn patchlake(dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchlake"))
        .current_dir(dir)
        .env_remove("PATCHLAKE_CONFIG")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PATCHLAKE_LOG", "trace")
        .args(["--config", config.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

/// Secrets that must never be written anywhere, with what they are.
fn leaks(haystack: &[u8]) -> Vec<&'static str> {
    let text = String::from_utf8_lossy(haystack);
    let mut found = Vec::new();
    for (needle, what) in [
        (SECRET_KEY, "the starting secret access key"),
        (SESSION_TOKEN, "the starting session token"),
        (SIM_TOKEN_PREFIX, "an assumed-role session token"),
    ] {
        if text.contains(needle) {
            found.push(what);
        }
    }
    // Assumed-role secret keys: 20 lowercase alphanumerics then 20 uppercase ones.
    let bytes = text.as_bytes();
    let is_lower = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let is_upper = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    if bytes.windows(40).any(|w| {
        w[..20].iter().all(is_lower)
            && w[20..].iter().all(is_upper)
            && w[..20].iter().any(u8::is_ascii_lowercase)
            && w[20..].iter().any(u8::is_ascii_uppercase)
    }) {
        found.push("an assumed-role secret access key");
    }
    found
}

fn files_under(root: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_appears_in_logs_lake_reports_or_evidence() {
    let spec = harness::small_spec(11);
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let config = harness::config(&sim, &d.join("lake"));
    let config_path = d.join("patchlake.toml");
    std::fs::write(&config_path, config.to_toml()).unwrap();

    let outputs = tokio::task::spawn_blocking(move || {
        let collect = patchlake(&d, &config_path, &["collect"]);
        assert!(
            collect.status.success(),
            "collect: {}",
            String::from_utf8_lossy(&collect.stderr)
        );
        let report = patchlake(
            &d,
            &config_path,
            &["report", "--all", "--format", "html", "--out", "all.html"],
        );
        let evidence = patchlake(&d, &config_path, &["evidence", "--out", "bundle"]);
        assert!(
            evidence.status.success(),
            "evidence: {}",
            String::from_utf8_lossy(&evidence.stderr)
        );
        vec![
            ("collect", collect),
            ("report", report),
            ("evidence", evidence),
        ]
    })
    .await
    .unwrap();
    let assumed = sim.stats().calls("AssumeRole");
    sim.shutdown().await;
    assert!(assumed > 0, "the run must have used assumed-role sessions");

    // The logs are really at trace level (else the test proves little).
    let collect_log = String::from_utf8_lossy(&outputs[0].1.stderr);
    assert!(
        collect_log.contains("TRACE") && collect_log.len() > 100_000,
        "expected a trace-level log, got {} bytes",
        collect_log.len()
    );
    for (step, out) in &outputs {
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let found = leaks(bytes);
            assert!(found.is_empty(), "{step} {stream} contains {found:?}");
        }
    }
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "parquet"))
    );
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(dir.path().join("bundle")))
    );
    for file in files {
        let found = leaks(&std::fs::read(&file).unwrap());
        assert!(found.is_empty(), "{} contains {found:?}", file.display());
    }
}

#[test]
fn the_leak_detector_finds_each_kind_of_secret() {
    assert!(leaks(b"x-amz-security-token: IQoJb3JpZ2luX2VjEabc").len() == 1);
    assert!(leaks(format!("key={SECRET_KEY}").as_bytes()).len() == 1);
    assert!(leaks(b"abcdefghij0123456789ABCDEFGHIJ0123456789").len() == 1);
    assert!(leaks(b"i-0123456789abcdef0 arn:aws:iam::012345678901:role/x").is_empty());
}
