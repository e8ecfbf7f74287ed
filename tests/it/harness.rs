//! Shared set-up: a simulator with a small fleet and a config pointing at it.

use std::path::Path;
use std::process::Command;

use chrono::{TimeZone, Utc};
use patchlake::demo::{config_for_simulator, start_simulator};
use patchlake_config::Config;
use patchlake_sim::{FleetSpec, SimHandle, SimOptions};

/// A small fleet, pinned in time so its data is the same on every run.
pub fn small_spec(seed: u64) -> FleetSpec {
    FleetSpec {
        seed,
        accounts: 3,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        instances_per_region: 120,
        anchor: Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
        ..FleetSpec::default()
    }
}

pub async fn sim(spec: &FleetSpec) -> SimHandle {
    start_with(spec, SimOptions::default()).await
}

pub async fn start_with(spec: &FleetSpec, options: SimOptions) -> SimHandle {
    start_simulator(spec, options).await.unwrap()
}

pub fn config(sim: &SimHandle, lake: &Path) -> Config {
    config_for_simulator(sim, lake).unwrap()
}

/// The config with `--set` style overrides applied.
pub fn with(config: &Config, sets: &[&str]) -> Config {
    let mut loader = patchlake_config::ConfigLoader::new()
        .toml(&config.to_toml(), "test")
        .unwrap();
    for s in sets {
        loader = loader.set_arg(s).unwrap();
    }
    loader.load().unwrap()
}

/// The `patchlake` binary, free of any `PATCHLAKE_CONFIG` in the test's environment.
pub fn patchlake() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patchlake"));
    c.env_remove("PATCHLAKE_CONFIG");
    c
}

/// Runs `patchlake` in `dir` against the lake `dir/lake`: (exit code, stdout, stderr). Fails
/// the test on a panic, whatever the exit code.
pub fn run_cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let lake = format!("lake.root={}", dir.join("lake").display());
    let out = patchlake()
        .current_dir(dir)
        .args(["--set", "accounts.ids=012345678901", "--set", &lake])
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{args:?}: {stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// `command` isolated from the machine's AWS and patchlake set-up: no `PATCHLAKE_CONFIG`, no
/// shared config or credentials files, no instance metadata, static fake keys (the simulator
/// accepts any), errors-only logs, stdout discarded and stderr piped.
pub fn isolated<'c>(command: &'c mut Command, dir: &Path) -> &'c mut Command {
    command
        .current_dir(dir)
        .env_remove("PATCHLAKE_CONFIG")
        .env("PATCHLAKE_LOG", "error")
        .env("AWS_ACCESS_KEY_ID", "AKIAPATCHLAKETEST000")
        .env("AWS_SECRET_ACCESS_KEY", "patchlake-test-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
}
