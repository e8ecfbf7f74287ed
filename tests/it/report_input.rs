//! Bad input to `patchlake report`, `sql` and `evidence`: every case exits 1 with a message
//! naming what is wrong (the lake, the run, the --as-of value, the report, the table), and
//! nothing panics. (`cli.rs` covers a missing lake, a staged-only lake, unknown report names
//! and malformed --as-of values on `report`.)

use std::path::Path;

use crate::harness::{patchlake, run_cli};

/// Every command that reads the lake, as it would be typed.
const READERS: [&[&str]; 5] = [
    &["report", "compliance_by_patch_group"],
    &["report", "stale_and_unreported", "--format", "csv"],
    &["report", "--all", "--format", "xlsx", "--out", "all.xlsx"],
    &["sql", "SELECT COUNT(*) FROM instances"],
    &["evidence", "--out", "ev"],
];

fn assert_refused(dir: &Path, args: &[&str], needles: &[&str]) {
    let (code, stdout, err) = run_cli(dir, args);
    assert_eq!(code, 1, "{args:?}: {stdout}{err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: no {needle:?} in {err}");
    }
}

#[test]
fn an_empty_lake_directory_has_no_committed_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lake")).unwrap();
    let root = dir.path().join("lake").display().to_string();
    for args in READERS {
        assert_refused(dir.path(), args, &["no committed run", &root]);
    }
    assert_refused(
        dir.path(),
        &["report", "compliance_trend", "--as-of", "2026-11-25"],
        &["no committed run"],
    );
    assert_refused(
        dir.path(),
        &[
            "report",
            "days_missing",
            "--as-of",
            "20261125T101112Z-deadbeef",
        ],
        &["run 20261125T101112Z-deadbeef is not committed"],
    );
    assert!(!dir.path().join("ev").exists());
    assert!(!dir.path().join("all.xlsx").exists());
}

/// A demo lake, then bad --as-of values, names and tables against it; then the same lake
/// with its commit records gone (a run that crashed before committing): no committed run.
#[test]
fn bad_as_of_names_and_uncommitted_data_over_a_real_lake() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = patchlake()
        .current_dir(d)
        .args(["demo", "--accounts", "1", "--instances", "10"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, ls, err) = run_cli(d, &["lake", "ls"]);
    assert_eq!(code, 0, "{err}");
    let run_id = ls.split_whitespace().next().unwrap().to_owned();

    // Malformed --as-of: refused by every reader, naming the flag and the value.
    for bad in ["yesterday", "2026-02-30", "20261125T101112Z", "latest;DROP"] {
        for args in READERS {
            let args = [args, &["--as-of", bad]].concat();
            assert_refused(d, &args, &["--as-of", "invalid as-of", bad]);
        }
    }
    // Well-formed but selecting nothing: the run or the date is named.
    let absent = "20010101T000000Z-00000000";
    assert_refused(
        d,
        &["report", "cve_exposure", "--as-of", absent],
        &["no such run", absent],
    );
    assert_refused(
        d,
        &["evidence", "--out", "ev", "--as-of", "2001-01-01"],
        &["no committed run on or before 2001-01-01", &run_id],
    );
    assert!(!d.join("ev").exists());
    // Unknown report (also with a valid --as-of) and unknown table.
    assert_refused(
        d,
        &["report", "stale_and_unreportd", "--as-of", &run_id],
        &[
            "unknown report \"stale_and_unreportd\"",
            "stale_and_unreported",
        ],
    );
    assert_refused(
        d,
        &["sql", "SELECT * FROM instance_complianse"],
        &["instance_complianse"],
    );
    assert_refused(d, &["sql", "SELEC 1"], &["SELEC"]);
    // The lake still answers.
    let (code, csv, err) = run_cli(d, &["report", "stale_and_unreported", "-f", "csv"]);
    assert_eq!(code, 0, "{err}");
    assert!(csv.starts_with("account_id,region,instance_id"), "{csv}");

    // The data files stay, the commit records go: nothing is committed any more.
    std::fs::remove_dir_all(d.join("lake/runs")).unwrap();
    assert!(d.join("lake/instances").is_dir());
    for args in READERS {
        assert_refused(d, args, &["no committed run"]);
    }
    assert_refused(
        d,
        &["report", "compliance_by_baseline", "--as-of", &run_id],
        &[&format!("run {run_id} is not committed")],
    );
}
