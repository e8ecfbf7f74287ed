//! The `patchlake` binary: exit codes and error messages users see.

use crate::harness::{patchlake, run_cli};

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
fn report_on_a_missing_or_empty_lake_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_cli(dir.path(), &["report", "compliance_by_patch_group"]);
    assert_eq!(code, 1);
    assert!(err.contains("no lake at lake.root"), "{err}");
    // A lake with a run staged but never committed.
    std::fs::create_dir_all(
        dir.path()
            .join("lake/_staging/20261125T101112Z-deadbeef/instances"),
    )
    .unwrap();
    for args in [
        &["report", "compliance_by_patch_group"][..],
        &["report", "--all", "--format", "html", "--out", "all.html"],
        &["sql", "SELECT 1"],
        &["evidence", "--out", "ev"],
    ] {
        let (code, _, err) = run_cli(dir.path(), args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains("no committed run"), "{args:?}: {err}");
    }
    assert!(!dir.path().join("ev").exists());
}

#[test]
fn bad_report_arguments_are_refused_before_the_lake_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_cli(dir.path(), &["report", "compliance_by_nothing"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown report \"compliance_by_nothing\""),
        "{err}"
    );
    assert!(err.contains("compliance_by_patch_group"), "{err}");
    for bad in ["yesterday", "2026-13-01", "20261125T101112Z"] {
        let (code, _, err) = run_cli(
            dir.path(),
            &["report", "compliance_by_baseline", "--as-of", bad],
        );
        assert_eq!(code, 1);
        assert!(
            err.contains("--as-of") && err.contains("invalid as-of"),
            "{err}"
        );
    }
    let (code, _, err) = run_cli(
        dir.path(),
        &["report", "--all", "--format", "csv", "--out", "x"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--format html or xlsx"), "{err}");
    let (code, _, err) = run_cli(dir.path(), &["report", "--all", "--format", "html"]);
    assert_eq!(code, 1);
    assert!(err.contains("needs --out"), "{err}");
}

/// A demo lake, then every report as one page and one workbook, `--as-of`, and evidence
/// bundles (directory and zip) that verify until a byte changes or a file is added.
#[test]
fn all_reports_as_of_and_evidence_over_a_demo_lake() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = patchlake()
        .current_dir(d)
        .args(["demo", "--accounts", "2", "--instances", "30"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, _, err) = run_cli(
        d,
        &["report", "--all", "--format", "html", "--out", "all.html"],
    );
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(d.join("all.html")).unwrap();
    for r in patchlake_query::list_reports() {
        assert!(
            html.contains(&format!(">{}</h2>", r.name)),
            "{} missing",
            r.name
        );
    }
    assert!(html.contains("exclude_inactive"), "options shown");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external fetch"
    );
    let (code, _, err) = run_cli(d, &["report", "--all", "--out", "all.xlsx"]);
    assert_eq!(code, 0, "{err}");
    let xlsx = std::fs::File::open(d.join("all.xlsx")).unwrap();
    let archive = zip::ZipArchive::new(xlsx).unwrap();
    let sheets = archive
        .file_names()
        .filter_map(Result::ok)
        .filter(|n| n.starts_with("xl/worksheets/sheet"))
        .count();
    assert_eq!(sheets, patchlake_query::list_reports().len());

    // --as-of by run id and by date select the demo's run; a date before it is refused.
    let (_, ls, _) = run_cli(d, &["lake", "ls"]);
    let run_id = ls.split_whitespace().next().unwrap().to_owned();
    let dt = format!("{}-{}-{}", &run_id[0..4], &run_id[4..6], &run_id[6..8]);
    for as_of in [run_id.as_str(), dt.as_str(), "latest"] {
        let (code, csv, err) = run_cli(
            d,
            &[
                "sql",
                "SELECT run_id FROM params",
                "--as-of",
                as_of,
                "--format",
                "csv",
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert!(csv.contains(&run_id), "{as_of}: {csv}");
    }
    let (code, _, err) = run_cli(d, &["report", "compliance_trend", "--as-of", "2001-01-01"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no committed run on or before 2001-01-01"),
        "{err}"
    );

    // Evidence as a directory: verifies, then fails naming the altered and the extra file.
    let (code, stdout, err) = run_cli(d, &["evidence", "--as-of", &run_id, "--out", "ev"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("manifest sha256"), "{stdout}");
    for f in [
        "manifest.json",
        "reports.html",
        "reports.xlsx",
        "reports/compliance_by_patch_group.csv",
        "sql/views/instance_compliance.sql",
        "sql/reports/days_missing.sql",
        "sql/params.csv",
        "coverage.csv",
        "run.json",
        "config.json",
    ] {
        assert!(d.join("ev").join(f).is_file(), "{f}");
    }
    let manifest = std::fs::read_to_string(d.join("ev/manifest.json")).unwrap();
    assert!(manifest.contains("\"SI-2\"") && manifest.contains("\"6.3.3\""));
    let (code, stdout, _) = run_cli(d, &["evidence", "verify", "ev"]);
    assert_eq!(code, 0, "{stdout}");
    let csv = d.join("ev/reports/compliance_by_baseline.csv");
    let mut bytes = std::fs::read(&csv).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    std::fs::write(&csv, &bytes).unwrap();
    let (code, stdout, _) = run_cli(d, &["evidence", "verify", "ev"]);
    assert_eq!(code, 5, "{stdout}");
    assert!(
        stdout.contains("reports/compliance_by_baseline.csv: altered"),
        "{stdout}"
    );
    bytes[last] ^= 0x01;
    std::fs::write(&csv, &bytes).unwrap();
    std::fs::write(d.join("ev/sql/notes.txt"), "added later").unwrap();
    let (code, stdout, _) = run_cli(d, &["evidence", "verify", "ev"]);
    assert_eq!(code, 5, "{stdout}");
    assert!(stdout.contains("sql/notes.txt: extra file"), "{stdout}");
    assert!(!stdout.contains("altered"), "{stdout}");

    // Evidence as a zip verifies too, and is never overwritten.
    let (code, _, err) = run_cli(d, &["evidence", "--out", "ev.zip", "--no-controls"]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, _) = run_cli(d, &["evidence", "verify", "ev.zip"]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, err) = run_cli(d, &["evidence", "--out", "ev.zip"]);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
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
    // Not a terminal: progress comes as plain structured log lines, no colour codes.
    assert!(stderr.contains("collection finished"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "ANSI escape in piped stderr: {stderr:?}"
    );
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
