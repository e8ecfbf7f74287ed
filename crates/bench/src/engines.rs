//! Running one query in a fresh child process per engine: DataFusion through this binary's
//! `worker` subcommand (patchlake's own `LakeQuery`), DuckDB through `bench/duckdb_runner.py`
//! in the bench virtual environment. Both see the same files and the same relations, time a
//! cold (first in the process) and the best of N hot executions, report their own peak RSS
//! (VmHWM, read before the result is written) and write the result as Parquet for the
//! comparison.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use patchlake_model::Table;
use patchlake_query::{AsOf, LakeQuery, ReportParams};
use serde::{Deserialize, Serialize};

use crate::generate::peak_rss_kib;
use crate::suite::{Kind, Query};

/// The DuckDB runner, embedded so the binary works from any directory.
pub const DUCKDB_RUNNER: &str = include_str!("../../../bench/duckdb_runner.py");

/// Files of one lake table, for the DuckDB side.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableFiles {
    pub name: String,
    /// The selected (latest) run's files.
    pub current: Vec<String>,
    /// Every committed run's files (Hive paths: `dt=`, `run_id=`).
    pub history: Vec<String>,
}

/// Everything a worker needs, written once per bench run as `suite.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuiteFile {
    pub lake: PathBuf,
    pub threads: usize,
    pub tables: Vec<TableFiles>,
    pub params: PathBuf,
    pub history_params: PathBuf,
    pub views: Vec<String>,
    pub queries: Vec<Query>,
}

/// What a worker measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timing {
    pub engine: String,
    #[serde(default)]
    pub version: Option<String>,
    pub query: String,
    pub open_ms: f64,
    pub cold_ms: f64,
    pub hot_ms: f64,
    pub rows: u64,
    pub peak_rss_kib: u64,
}

fn write_parquet(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .context("a result without batches")?;
    let mut writer = ArrowWriter::try_new(file, schema, None)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(())
}

/// A result file's schema (also when it has no rows) and batches.
pub fn read_parquet(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("reading {}", path.display()))?;
    let schema = builder.schema().clone();
    let batches = builder.build()?.collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// Writes `suite.json`, the `params` tables and the DuckDB runner into `work`.
pub async fn prepare(
    lake: &Path,
    work: &Path,
    threads: usize,
    queries: Vec<Query>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let q = LakeQuery::open(lake, AsOf::Latest, ReportParams::default())
        .await
        .with_context(|| format!("opening lake {}", lake.display()))?;
    let path = |rel: &str| lake.join(rel).to_string_lossy().into_owned();
    let runs = q.committed_runs();
    let tables = Table::ALL
        .iter()
        .map(|table| {
            let files = |run: &patchlake_model::RunRecord| -> Vec<String> {
                if *table == Table::Runs {
                    vec![path(&patchlake_lake::layout::runs_key(&run.run_id))]
                } else {
                    run.files
                        .iter()
                        .filter(|f| f.table == table.name())
                        .map(|f| path(&f.path))
                        .collect()
                }
            };
            TableFiles {
                name: table.name().to_owned(),
                current: files(q.run()),
                history: runs.iter().flat_map(files).collect(),
            }
        })
        .collect();
    let params = work.join("params.parquet");
    let history_params = work.join("history_params.parquet");
    for (name, file) in [("params", &params), ("history_params", &history_params)] {
        let batches = q.sql(&format!("SELECT * FROM {name}")).await?;
        write_parquet(file, &batches)?;
    }
    let suite = SuiteFile {
        lake: lake.to_path_buf(),
        threads,
        tables,
        params,
        history_params,
        views: patchlake_query::reports::VIEWS
            .iter()
            .map(|v| v.sql.to_owned())
            .collect(),
        queries,
    };
    let suite_path = work.join("suite.json");
    std::fs::write(&suite_path, serde_json::to_vec_pretty(&suite)?)?;
    std::fs::write(work.join("duckdb_runner.py"), DUCKDB_RUNNER)?;
    Ok(suite_path)
}

/// The `worker datafusion` subcommand: runs one query of `suite` and prints its [`Timing`].
pub async fn datafusion_worker(suite: &Path, name: &str, hot: usize, out: &Path) -> Result<()> {
    let suite: SuiteFile = serde_json::from_slice(
        &std::fs::read(suite).with_context(|| format!("reading {}", suite.display()))?,
    )?;
    let query = suite
        .queries
        .iter()
        .find(|q| q.name == name)
        .with_context(|| format!("no query {name} in the suite"))?;
    let started = Instant::now();
    let q = LakeQuery::open(&suite.lake, AsOf::Latest, ReportParams::default()).await?;
    let open_ms = started.elapsed().as_secs_f64() * 1000.0;
    // For experiments: `PATCHLAKE_BENCH_DF_SET="key=value;key=value"` overrides session
    // options of this worker (not of `patchlake report`).
    if let Ok(settings) = std::env::var("PATCHLAKE_BENCH_DF_SET") {
        for setting in settings.split(';').filter(|s| !s.trim().is_empty()) {
            let (key, value) = setting
                .split_once('=')
                .with_context(|| format!("PATCHLAKE_BENCH_DF_SET: {setting} is not key=value"))?;
            q.context()
                .sql(&format!("SET {} = '{}'", key.trim(), value.trim()))
                .await?
                .collect()
                .await?;
        }
    }
    // For analysis of the first execution's cost: `PATCHLAKE_BENCH_WARMUP="<sql>"` runs that
    // query (untimed) before the timed ones.
    if let Ok(sql) = std::env::var("PATCHLAKE_BENCH_WARMUP") {
        q.sql(&sql).await?;
    }
    let q = &q;
    let run = move || async move {
        let result = match query.kind {
            Kind::Report => q.report(&query.name).await,
            Kind::AdHoc => q.sql(&query.sql).await,
        };
        result.with_context(|| format!("DataFusion: query {}", query.name))
    };
    let t = Instant::now();
    let batches = run().await?;
    let cold_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut hot_ms = cold_ms;
    for i in 0..hot {
        let t = Instant::now();
        run().await?;
        let elapsed = t.elapsed().as_secs_f64() * 1000.0;
        // `PATCHLAKE_BENCH_TRACE=1` prints every hot execution's time, not only the best.
        if std::env::var_os("PATCHLAKE_BENCH_TRACE").is_some() {
            eprintln!("hot {i}: {elapsed:.1} ms");
        }
        hot_ms = if i == 0 { elapsed } else { hot_ms.min(elapsed) };
    }
    let peak_rss_kib = peak_rss_kib().unwrap_or(0);
    write_parquet(out, &batches)?;
    // For analysis: `PATCHLAKE_BENCH_EXPLAIN=1` writes EXPLAIN ANALYZE beside the result.
    if std::env::var_os("PATCHLAKE_BENCH_EXPLAIN").is_some() {
        let sql = match query.kind {
            Kind::Report => patchlake_query::find_report(&query.name)?.sql,
            Kind::AdHoc => query.sql.as_str(),
        };
        let plan = q
            .context()
            .sql(&format!("EXPLAIN ANALYZE {sql}"))
            .await?
            .collect()
            .await?;
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)?.to_string();
        std::fs::write(out.with_extension("explain.txt"), text)?;
    }
    let timing = Timing {
        engine: "datafusion".to_owned(),
        version: Some(datafusion::DATAFUSION_VERSION.to_owned()),
        query: name.to_owned(),
        open_ms,
        cold_ms,
        hot_ms,
        rows: batches.iter().map(|b| b.num_rows() as u64).sum(),
        peak_rss_kib,
    };
    println!("{}", serde_json::to_string(&timing)?);
    Ok(())
}

fn parse_timing(what: &str, output: std::process::Output) -> Result<Timing> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("{what} printed no timing: {stdout}"))?;
    serde_json::from_str(line).with_context(|| format!("{what} printed {line}"))
}

/// One query run by both engines, each in its own process.
pub struct Outcome {
    pub datafusion: Result<Timing>,
    pub duckdb: Option<Result<Timing>>,
    pub datafusion_result: PathBuf,
    pub duckdb_result: PathBuf,
}

pub fn run_query(
    suite: &Path,
    work: &Path,
    name: &str,
    hot: usize,
    processes: usize,
    python: Option<&Path>,
) -> Result<Outcome> {
    let results = work.join("results");
    std::fs::create_dir_all(&results)?;
    let datafusion_result = results.join(format!("{name}.datafusion.parquet"));
    let duckdb_result = results.join(format!("{name}.duckdb.parquet"));
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let datafusion_once = || {
        Command::new(&exe)
            .arg("worker")
            .arg("datafusion")
            .arg(suite)
            .arg(name)
            .arg(hot.to_string())
            .arg(&datafusion_result)
            .output()
            .context("starting the DataFusion worker")
            .and_then(|o| parse_timing(&format!("DataFusion worker for {name}"), o))
    };
    let duckdb_once = |python: &Path| {
        Command::new(python)
            .arg(work.join("duckdb_runner.py"))
            .arg(suite)
            .arg(name)
            .arg(hot.to_string())
            .arg(&duckdb_result)
            .output()
            .with_context(|| format!("starting {}", python.display()))
            .and_then(|o| parse_timing(&format!("DuckDB runner for {name}"), o))
    };
    // The engines take turns, so a slow spell of the machine falls on both.
    let mut datafusion = Ok(Vec::new());
    let mut duckdb = python.map(|_| Ok(Vec::new()));
    for _ in 0..processes.max(1) {
        if let Ok(timings) = &mut datafusion {
            match datafusion_once() {
                Ok(t) => timings.push(t),
                Err(e) => datafusion = Err(e),
            }
        }
        if let (Some(python), Some(Ok(timings))) = (python, &mut duckdb) {
            match duckdb_once(python) {
                Ok(t) => timings.push(t),
                Err(e) => duckdb = Some(Err(e)),
            }
        }
    }
    Ok(Outcome {
        datafusion: datafusion.and_then(combine),
        duckdb: duckdb.map(|d| d.and_then(combine)),
        datafusion_result,
        duckdb_result,
    })
}

/// One engine's timings of a query over several fresh processes: the median of the cold
/// (first) executions and of the set-up times, the best hot execution, the highest peak RSS.
/// Every process must have returned the same number of rows.
pub fn combine(timings: Vec<Timing>) -> Result<Timing> {
    let first = timings.first().context("no process ran")?.clone();
    if let Some(other) = timings.iter().find(|t| t.rows != first.rows) {
        bail!(
            "{} returned {} rows in one process and {} in another for {}",
            first.engine,
            first.rows,
            other.rows,
            first.query
        );
    }
    let median = |f: fn(&Timing) -> f64| {
        let mut v: Vec<f64> = timings.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        }
    };
    Ok(Timing {
        open_ms: median(|t| t.open_ms),
        cold_ms: median(|t| t.cold_ms),
        hot_ms: timings
            .iter()
            .map(|t| t.hot_ms)
            .fold(f64::INFINITY, f64::min),
        peak_rss_kib: timings.iter().map(|t| t.peak_rss_kib).max().unwrap_or(0),
        ..first
    })
}

/// The normalized results of both engines agree.
pub fn compare(outcome: &Outcome) -> Result<()> {
    let (schema, batches) = read_parquet(&outcome.datafusion_result)?;
    let df = crate::compare::normalize(&schema, &batches)?;
    let (schema, batches) = read_parquet(&outcome.duckdb_result)?;
    let duck = crate::compare::normalize(&schema, &batches)?;
    crate::compare::same(&df, &duck)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(cold_ms: f64, hot_ms: f64, peak_rss_kib: u64, rows: u64) -> Timing {
        Timing {
            engine: "datafusion".to_owned(),
            version: None,
            query: "q".to_owned(),
            open_ms: cold_ms / 10.0,
            cold_ms,
            hot_ms,
            rows,
            peak_rss_kib,
        }
    }

    #[test]
    fn combine_takes_the_median_cold_the_best_hot_and_the_highest_rss() {
        let t = combine(vec![
            timing(180.0, 125.0, 90, 1),
            timing(140.0, 130.0, 96, 1),
            timing(400.0, 119.0, 80, 1),
        ])
        .unwrap();
        assert_eq!(
            (t.cold_ms, t.open_ms, t.hot_ms, t.peak_rss_kib),
            (180.0, 18.0, 119.0, 96)
        );
        let even = combine(vec![timing(100.0, 90.0, 1, 1), timing(140.0, 80.0, 1, 1)]).unwrap();
        assert_eq!((even.cold_ms, even.hot_ms), (120.0, 80.0));
        let one = combine(vec![timing(50.0, 40.0, 7, 3)]).unwrap();
        assert_eq!((one.cold_ms, one.hot_ms, one.rows), (50.0, 40.0, 3));
    }

    #[test]
    fn combine_refuses_processes_that_disagree_on_rows() {
        let e = combine(vec![timing(1.0, 1.0, 1, 5), timing(1.0, 1.0, 1, 6)]).unwrap_err();
        assert!(e.to_string().contains("5 rows in one process and 6"), "{e}");
        assert!(combine(Vec::new()).is_err());
    }
}
