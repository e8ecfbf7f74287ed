//! The `patchlake` binary: exit codes and error messages users see.

use std::process::Command;

fn patchlake() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patchlake"));
    c.env_remove("PATCHLAKE_CONFIG");
    c
}

#[test]
fn bad_config_value_names_the_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = patchlake()
        .current_dir(dir.path())
        .args(["--set", "accounts.ids=12345", "config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("accounts.ids[0]"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn malformed_config_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("patchlake.toml"), "[accounts\nids = 1").unwrap();
    let out = patchlake()
        .current_dir(dir.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("patchlake.toml"), "{err}");
}

#[test]
fn unknown_key_in_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("patchlake.toml"),
        "[accounts]\nids = [\"012345678901\"]\n[regions]\nnames = [\"us-east-1\"]\nregion = \"x\"\n",
    )
    .unwrap();
    let out = patchlake()
        .current_dir(dir.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("region"), "{err}");
}

#[test]
fn report_on_an_empty_lake_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = patchlake()
        .current_dir(dir.path())
        .args([
            "--set",
            "accounts.ids=012345678901",
            "--set",
            &format!("lake.root={}", dir.path().join("lake").display()),
            "report",
            "compliance_by_patch_group",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("no committed run"), "{err}");
}

#[test]
fn demo_runs_end_to_end_and_writes_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = patchlake()
        .current_dir(dir.path())
        .args(["demo", "--accounts", "2", "--instances", "40"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("compliance_by_patch_group"), "{stdout}");
    assert!(stdout.contains("compliance_by_baseline"), "{stdout}");
    assert!(
        dir.path()
            .join("reports/compliance_by_patch_group.csv")
            .exists()
    );
    assert!(
        dir.path()
            .join("reports/compliance_by_baseline.csv")
            .exists()
    );
    assert!(dir.path().join("lake/runs").is_dir());
    // The committed lake verifies.
    let out = patchlake()
        .current_dir(dir.path())
        .args(["--set", "accounts.ids=012345678901", "lake", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
