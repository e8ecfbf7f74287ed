//! The Athena twins in `queries/athena/`: generated DDL and history views up to date, and
//! every Trino view (generated from the DataFusion SQL, or hand-written) returning the same
//! rows as its DataFusion twin.
//!
//! The Trino views are executed by DataFusion after the mechanical translation documented
//! in `queries/athena/README.md` ([`trino_to_datafusion`]), over the lake tables registered
//! the way Athena sees them: every Parquet file under `<table>/`, committed or not, with
//! the Hive partition columns from the path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SessionContext;
use patchlake_lake::Lake;
use patchlake_model::Table;
use patchlake_query::{AsOf, LakeQuery, ReportOptions, ReportParams, athena, session_config};

use crate::compliance::rows;
use crate::fixtures::{commit, fleet, history_lake, run_id};

fn athena_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../queries/athena")
}

/// Trino → DataFusion, the documented rules and nothing else:
/// 1. `regexp_extract(<t>."$path", 'run_id=([^/]+)/', 1)` → `<t>.run_id`: Athena reads the
///    run id from the object key; DataFusion exposes the `run_id=` directory as a column.
/// 2. `to_unixtime(` → `date_part('epoch', `: epoch seconds of a timestamp, as a double.
/// 3. `<newline, indent>CROSS JOIN UNNEST(<column>) AS u(<name>)` is dropped and the select
///    list's `u.<name>` before it becomes `UNNEST(<column>) AS <name>`: DataFusion has no
///    lateral `UNNEST` in `FROM`.
pub fn trino_to_datafusion(sql: &str) -> String {
    let mut out = sql.replace("to_unixtime(", "date_part('epoch', ");
    let needle = ".\"$path\", 'run_id=([^/]+)/', 1)";
    while let Some(end) = out.find(needle) {
        let start = out[..end]
            .rfind("regexp_extract(")
            .expect("regexp_extract before $path");
        let alias = &out[start + "regexp_extract(".len()..end];
        let replacement = format!("{alias}.run_id");
        out.replace_range(start..end + needle.len(), &replacement);
    }
    let join = "CROSS JOIN UNNEST(";
    while let Some(at) = out.find(join) {
        let rest = &out[at + join.len()..];
        let column = &rest[..rest
            .find(") AS u(")
            .expect("CROSS JOIN UNNEST(..) AS u(..)")];
        let after = &rest[column.len() + ") AS u(".len()..];
        let name = &after[..after.find(')').expect("AS u(<name>)")];
        let end = at + join.len() + column.len() + ") AS u(".len() + name.len() + 1;
        let (column, name) = (column.to_owned(), name.to_owned());
        let start = out[..at].trim_end().len();
        out.replace_range(start..end, "");
        let item = format!("u.{name}");
        let item_at = out[..start]
            .rfind(&item)
            .expect("u.<name> before CROSS JOIN UNNEST");
        out.replace_range(
            item_at..item_at + item.len(),
            &format!("UNNEST({column}) AS {name}"),
        );
    }
    out
}

/// The Athena view files in execution order (their names sort by dependency).
fn view_files() -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(athena_dir().join("views"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// A context holding the raw lake tables as Athena sees them and the translated views.
async fn athena_context(root: &Path, views: &[(String, String)]) -> SessionContext {
    let ctx = SessionContext::new_with_config(session_config());
    for table in Table::ALL {
        let dir = root.join(table.name());
        let url = ListingTableUrl::parse(format!("{}/", dir.display())).unwrap();
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![
                (
                    "dt".to_owned(),
                    datafusion::arrow::datatypes::DataType::Utf8,
                ),
                (
                    "run_id".to_owned(),
                    datafusion::arrow::datatypes::DataType::Utf8,
                ),
            ]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(table.schema());
        ctx.register_table(
            table.name(),
            Arc::new(ListingTable::try_new(config).unwrap()),
        )
        .unwrap();
    }
    for (name, sql) in views {
        ctx.sql(&trino_to_datafusion(sql))
            .await
            .unwrap_or_else(|e| panic!("queries/athena/views/{name}: {e}"));
    }
    ctx
}

async fn sorted_rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut r = rows(&batches);
    r.sort();
    r
}

/// Three committed runs with patches fixed and appearing, a fourth with stopped and
/// terminated instances, and a run whose files were written but never committed.
async fn lake(dir: &Path) {
    let lake = Lake::open(dir).unwrap();
    history_lake(&lake).await;
    let mut tasks = fleet();
    for i in tasks[0].instances.iter_mut() {
        match i.instance_id.as_str() {
            "i-01" => i.ping_status = Some("ConnectionLost".into()),
            "i-04" => i.ping_status = Some("Inactive".into()),
            "i-02" => i.ping_status = Some("Online".into()),
            _ => {}
        }
    }
    let committed = run_id(26, 12);
    commit(&lake, &committed, &tasks).await;
    // The same files under a run that has no runs record: Athena lists them, the views
    // must not count them.
    for table in Table::ALL {
        if table == Table::Runs {
            continue;
        }
        let from = dir
            .join(table.name())
            .join(format!("dt={}", committed.dt()))
            .join(format!("run_id={committed}"));
        let to = dir
            .join(table.name())
            .join("dt=2026-11-27")
            .join("run_id=20261127T120000Z-0badc0de");
        if !from.is_dir() {
            continue;
        }
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
}

/// (Athena view, DataFusion query of its twin) pairs compared row for row.
fn twins() -> Vec<(&'static str, String)> {
    let mut out = vec![
        (
            "history_instance_compliance",
            "SELECT * FROM history_instance_compliance".to_owned(),
        ),
        (
            "instance_compliance",
            "SELECT * FROM instance_compliance".to_owned(),
        ),
    ];
    for r in athena::ATHENA_REPORTS {
        out.push((r, patchlake_query::find_report(r).unwrap().sql.to_owned()));
    }
    out
}

/// Differences between the Athena views and their DataFusion twins, one line per view.
async fn differences(dir: &Path, views: &[(String, String)]) -> Vec<String> {
    let q = LakeQuery::open_with(
        dir,
        AsOf::Latest,
        ReportParams::default(),
        ReportOptions::default(),
    )
    .await
    .unwrap();
    let athena = athena_context(dir, views).await;
    let mut out = Vec::new();
    for (view, twin) in twins() {
        let mut expected = rows(&q.sql(&twin).await.unwrap());
        expected.sort();
        let got = sorted_rows(&athena, &format!("SELECT * FROM {view}")).await;
        assert!(!expected.is_empty(), "{view}: no rows to compare");
        if got != expected {
            let first = expected
                .iter()
                .zip(&got)
                .find(|(e, g)| e != g)
                .map(|(e, g)| format!("{e:?} vs {g:?}"))
                .unwrap_or_default();
            out.push(format!(
                "{view}: {} rows expected, {} got; first difference: {first}",
                expected.len(),
                got.len()
            ));
        }
    }
    out
}

#[tokio::test]
async fn athena_views_return_the_rows_of_their_datafusion_twins() {
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path()).await;
    let diffs = differences(dir.path(), &view_files()).await;
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[tokio::test]
async fn a_wrong_athena_view_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    lake(dir.path()).await;
    let mutations: [(&str, &str, &str); 5] = [
        // Forgets that stopped instances are inactive.
        (
            "30_history_instance_compliance.sql",
            "IN ('ConnectionLost', 'Inactive') THEN 'inactive'",
            "IN ('Inactive') THEN 'inactive'",
        ),
        // Takes the oldest committed run for the latest.
        (
            "20_history_params.sql",
            "ORDER BY c.run_id DESC",
            "ORDER BY c.run_id ASC",
        ),
        // Counts a pending reboot as compliant.
        (
            "30_history_instance_compliance.sql",
            "THEN s.installed_pending_reboot ELSE 0 END",
            "THEN 0 ELSE 0 END",
        ),
        // Measures days since the run before the latest.
        (
            "50_stale_and_unreported.sql",
            "ON p.runs_back = 0",
            "ON p.runs_back = 1",
        ),
        // Keeps the instances no window targets out.
        (
            "50_maintenance_window_context.sql",
            "LEFT JOIN window_groups w",
            "JOIN window_groups w",
        ),
    ];
    for (file, from, to) in mutations {
        let views: Vec<(String, String)> = view_files()
            .into_iter()
            .map(|(name, sql)| {
                if name == file {
                    assert!(sql.contains(from), "{file} has no {from:?}");
                    let wrong = sql.replace(from, to);
                    (name, wrong)
                } else {
                    (name, sql)
                }
            })
            .collect();
        let diffs = differences(dir.path(), &views).await;
        assert!(
            !diffs.is_empty(),
            "{file}: {from:?} → {to:?} went unnoticed"
        );
    }
}

/// The Athena views written by hand: Athena's stand-ins for what DataFusion builds in Rust
/// (the parameters, the committed runs, the parameters per run).
const HAND_WRITTEN: [&str; 3] = [
    "views/00_patchlake_params.sql",
    "views/05_committed_runs.sql",
    "views/20_history_params.sql",
];

#[tokio::test]
async fn generated_athena_files_are_up_to_date() {
    let bless = std::env::var_os("PATCHLAKE_BLESS").is_some();
    let mut stale = Vec::new();
    let mut expected = BTreeMap::new();
    for (path, text) in athena::generated_files().await.unwrap() {
        let full = athena_dir().join(&path);
        if bless {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, &text).unwrap();
        } else if std::fs::read_to_string(&full).unwrap_or_default() != text {
            stale.push(path.clone());
        }
        expected.insert(path, ());
    }
    for path in HAND_WRITTEN {
        expected.insert(path.to_owned(), ());
    }
    // Every file is generated or one of the hand-written ones, nothing else.
    let mut files = Vec::new();
    for dir in ["tables", "views"] {
        for e in std::fs::read_dir(athena_dir().join(dir)).unwrap() {
            files.push(format!(
                "{dir}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    for f in &files {
        assert!(
            expected.contains_key(f),
            "queries/athena/{f} is neither generated nor hand-written"
        );
    }
    assert_eq!(files.len(), expected.len(), "{files:?}");
    assert!(
        stale.is_empty(),
        "out of date: {stale:?} (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates)"
    );
}

/// The generated views differ from their DataFusion source by the documented rewrites only:
/// undoing them (the test's translation back, and the view wrapper) gives the source's SQL.
#[tokio::test]
async fn derived_views_are_their_datafusion_sql_plus_the_rewrites() {
    for (path, text) in athena::derived_files().await.unwrap() {
        let d = athena::derived()
            .into_iter()
            .find(|d| d.athena_file == path)
            .unwrap();
        // The SQL without comments.
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .map(|l| format!("{l}\n"))
            .collect();
        if d.name == "missing_critical_patches" || d.name == "compliance_by_account_region" {
            assert!(body.contains("FROM latest_"), "{path}: {body}");
        }
        if d.name == "instance_compliance" {
            assert!(!body.contains("EXCLUDE"), "{path}");
            assert!(body.contains("    other_non_compliant\n"), "{path}: {body}");
        }
        if d.name == "history_instance_compliance" {
            assert!(!body.contains("stale_before"), "{path}");
        }
        assert!(
            body.contains(&format!("CREATE OR REPLACE VIEW {} AS", d.name)),
            "{path}"
        );
        // Undo the rewrites the translation back knows; what it cannot undo (the selected
        // run's tables, staleness, EXCLUDE) is at most 3 lines, carried over otherwise verbatim.
        let back = trino_to_datafusion(&text);
        let same_lines = d
            .sql
            .lines()
            .filter(|l| !l.trim().is_empty() && back.contains(l))
            .count();
        let lines = d.sql.lines().filter(|l| !l.trim().is_empty()).count();
        assert!(
            lines - same_lines <= 3,
            "{path}: {} of {lines} lines of queries/{} changed",
            lines - same_lines,
            d.source_file
        );
    }
}

#[test]
fn datafusion_only_sql_is_refused_naming_the_file() {
    let base = athena::derived()
        .into_iter()
        .find(|d| d.name == "compliance_by_baseline")
        .unwrap();
    for (sql, says) in [
        ("SELECT p.trend_runs FROM params p", "params"),
        ("SELECT CAST(1 AS INT)::BIGINT AS x", "::"),
        ("SELECT * EXCLUDE x FROM instance_compliance", "EXCLUDE"),
        (
            "SELECT s.x FROM t s WHERE s.x > p.stale_before",
            "stale_before",
        ),
        (
            "SELECT UNNEST(w.target_patch_groups) FROM maintenance_windows w",
            "UNNEST",
        ),
        (
            "SELECT UNNEST(a) AS x, UNNEST(b) AS y FROM t",
            "more than one UNNEST",
        ),
        (
            "SELECT UNNEST(w.a) AS x FROM t w JOIN s ON s.k = w.k",
            "more than one relation",
        ),
        ("SELECT UNNEST(a) + 1 AS x FROM t", "UNNEST"),
        ("SELECT x FROM t WHERE 'a' IN (UNNEST(a))", "UNNEST"),
        ("SELECT UNNEST(a) AS x FROM t u", "`u`"),
        (
            "SELECT date_part('day', t.at) AS d FROM t",
            "date_part('epoch'",
        ),
        ("SELECT array_has(t.a, 'x') AS h FROM t", "`array_has`"),
        ("SELECT date_trunc('day', t.at) AS d FROM t", "`date_trunc`"),
    ] {
        let d = athena::Derived {
            sql: Box::leak(sql.to_owned().into_boxed_str()),
            ..base.clone()
        };
        let err = athena::to_athena(&d, &["x".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{sql}: {err}");
        assert!(err.contains("queries/compliance_by_baseline.sql"), "{err}");
    }
}

/// Rewrite 5 rests on this: DataFusion's select-list UNNEST drops a row whose list is NULL
/// or empty, as Trino's `CROSS JOIN UNNEST` does (Trino documents the latter).
#[tokio::test]
async fn a_select_list_unnest_drops_null_and_empty_lists_like_a_cross_join_unnest() {
    let ctx = SessionContext::new_with_config(session_config());
    let sql = "WITH t AS (\
                   SELECT 1 AS k, make_array('a', 'b') AS l \
                   UNION ALL SELECT 2, CAST(make_array() AS VARCHAR[]) \
                   UNION ALL SELECT 3, CAST(NULL AS VARCHAR[]) \
                   UNION ALL SELECT 4, make_array('c')) \
               SELECT k, UNNEST(l) AS x FROM t";
    let got = sorted_rows(&ctx, sql).await;
    let want: Vec<Vec<String>> = [("1", "a"), ("1", "b"), ("4", "c")]
        .iter()
        .map(|(k, x)| vec![(*k).to_owned(), (*x).to_owned()])
        .collect();
    assert_eq!(got, want);
}

#[test]
fn the_translation_is_mechanical() {
    let sql = "SELECT regexp_extract(t.\"$path\", 'run_id=([^/]+)/', 1) AS run_id, \
               to_unixtime(t.x) FROM t WHERE regexp_extract(r.\"$path\", 'run_id=([^/]+)/', 1) = 'a'";
    assert_eq!(
        trino_to_datafusion(sql),
        "SELECT t.run_id AS run_id, date_part('epoch', t.x) FROM t WHERE r.run_id = 'a'"
    );
    let sql = "WITH w AS (\n    SELECT\n        a,\n        u.g\n    FROM latest_t\n    \
               CROSS JOIN UNNEST(gs) AS u(g)\n)\nSELECT * FROM w";
    assert_eq!(
        trino_to_datafusion(sql),
        "WITH w AS (\n    SELECT\n        a,\n        UNNEST(gs) AS g\n    FROM latest_t\n)\nSELECT * FROM w"
    );
}
