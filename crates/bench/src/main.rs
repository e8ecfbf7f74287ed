//! `patchlake-bench`: patchlake's benchmarks against the alternatives users reach for.
//!
//! Generates (once, cached) a seeded lake at a named scale through the real lake writer,
//! measures the writer (rows/s, bytes/row per table, size against JSON lines), then runs the
//! query suite (every named report plus ad-hoc shapes) by DataFusion (patchlake's
//! `LakeQuery`) and by DuckDB on the same files, each query in a fresh process per engine:
//! cold and best-of-N hot times, peak RSS, and a check that both engines return the same
//! rows. Writes `bench/results/<scale>.md` and `.csv`. It asserts answers, never time.
//!
//! It must not change what it measures: the lake is written by `patchlake-lake` with its
//! production settings and read by `patchlake-query` as the CLI reads it.

mod compare;
mod engines;
mod generate;
mod results;
mod suite;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use generate::{Fleet, LakeStats, Scale};

#[derive(Parser)]
#[command(
    name = "patchlake-bench",
    about = "patchlake benchmarks: lake writer and report queries vs DuckDB"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct LakeArgs {
    /// small (~1M instance_patches rows), medium (~30M) or large (~100M).
    #[arg(value_enum, default_value = "small")]
    scale: Scale,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where generated lakes are cached, as <scale>-<seed>/.
    #[arg(long, env = "PATCHLAKE_BENCH_CACHE")]
    cache: Option<PathBuf>,
}

impl LakeArgs {
    fn dir(&self) -> Result<PathBuf> {
        let cache = match &self.cache {
            Some(c) => c.clone(),
            None => PathBuf::from(std::env::var("HOME").context("HOME is not set")?)
                .join(".cache/patchlake/bench"),
        };
        Ok(cache.join(format!("{}-{}", self.scale.name(), self.seed)))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Generate the lake if it is not cached, then run the query suite on both engines.
    Run {
        #[command(flatten)]
        lake: LakeArgs,
        /// Hot executions per query (the best one counts).
        #[arg(long, default_value_t = 3)]
        hot: usize,
        /// Fresh processes per query and engine, taking turns: cold is their median.
        #[arg(long, default_value_t = 3)]
        processes: usize,
        /// Python of a virtual environment with `duckdb` (scripts/bench creates one).
        #[arg(long, env = "PATCHLAKE_BENCH_PYTHON")]
        python: Option<PathBuf>,
        /// Run DataFusion only.
        #[arg(long)]
        no_duckdb: bool,
        /// Only queries whose name contains this.
        #[arg(long)]
        only: Option<String>,
        /// Directory for <scale>.md and <scale>.csv.
        #[arg(long, default_value = "bench/results")]
        results: PathBuf,
    },
    /// Generate (or regenerate with --force) the lake and print its numbers.
    Generate {
        #[command(flatten)]
        lake: LakeArgs,
        #[arg(long)]
        force: bool,
    },
    /// Internal: run one query in this fresh process and print its timing as JSON.
    #[command(hide = true)]
    Worker {
        engine: String,
        suite: PathBuf,
        query: String,
        hot: usize,
        out: PathBuf,
    },
}

/// The cached lake of `args`, generated first when absent or incomplete.
async fn ensure_lake(args: &LakeArgs, force: bool) -> Result<(PathBuf, LakeStats)> {
    let dir = args.dir()?;
    let lake = dir.join("lake");
    let stats_path = dir.join("generated.json");
    if !force && stats_path.exists() && lake.exists() {
        let stats: LakeStats = serde_json::from_slice(&std::fs::read(&stats_path)?)
            .with_context(|| format!("reading {}", stats_path.display()))?;
        let layout = Some(patchlake_lake::format::ROW_GROUP_ROWS);
        if stats.row_group_rows == layout {
            eprintln!("lake: cached at {}", lake.display());
            return Ok((lake, stats));
        }
        // A lake the writer would lay out differently now measures the old layout.
        eprintln!(
            "lake: cached at {} with {} rows per row group, the writer now uses {}; regenerating",
            lake.display(),
            stats
                .row_group_rows
                .map_or("unrecorded".to_owned(), |n| n.to_string()),
            patchlake_lake::format::ROW_GROUP_ROWS
        );
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing incomplete {}", dir.display()))?;
    }
    let fleet = Fleet::new(args.seed, args.scale.spec());
    eprintln!(
        "lake: generating {} (seed {}) at {}",
        args.scale.name(),
        args.seed,
        lake.display()
    );
    let stats = generate::write_lake(&fleet, Some(args.scale), &lake, true).await?;
    // Written last: a lake without it is regenerated.
    std::fs::write(&stats_path, serde_json::to_vec_pretty(&stats)?)?;
    Ok((lake, stats))
}

fn default_python() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let python = Path::new(&home).join(".cache/patchlake/venv-bench/bin/python");
    python.exists().then_some(python)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    lake_args: LakeArgs,
    hot: usize,
    processes: usize,
    python: Option<PathBuf>,
    no_duckdb: bool,
    only: Option<String>,
    results_dir: PathBuf,
) -> Result<()> {
    let load_start = results::load_average();
    let started = Instant::now();
    let (lake, stats) = ensure_lake(&lake_args, false).await?;
    results::print_lake(&stats);
    let python = if no_duckdb {
        None
    } else {
        Some(python.or_else(default_python).context(
            "no Python with duckdb: run scripts/bench (it creates ~/.cache/patchlake/venv-bench) \
             or pass --python, or --no-duckdb",
        )?)
    };
    let fleet = Fleet::new(lake_args.seed, lake_args.scale.spec());
    let queries: Vec<_> = suite::suite(&fleet.probe())
        .into_iter()
        .filter(|q| only.as_deref().is_none_or(|o| q.name.contains(o)))
        .collect();
    let work = lake_args.dir()?.join("work");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let suite_path = engines::prepare(&lake, &work, threads, queries.clone()).await?;
    let mut rows = Vec::new();
    println!(
        "{:<40} {:>9} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}  same",
        "query", "rows", "df cold", "df hot", "duck cold", "duck hot", "hot x", "cold x"
    );
    for query in &queries {
        let outcome = engines::run_query(
            &suite_path,
            &work,
            &query.name,
            hot,
            processes,
            python.as_deref(),
        )?;
        let same = match (&outcome.datafusion, &outcome.duckdb) {
            (Ok(_), Some(Ok(_))) => Some(engines::compare(&outcome).map_err(|e| format!("{e:#}"))),
            _ => None,
        };
        let row = results::QueryRow {
            name: query.name.clone(),
            kind: query.kind.clone(),
            datafusion: outcome.datafusion.map_err(|e| format!("{e:#}")),
            duckdb: outcome.duckdb.map(|d| d.map_err(|e| format!("{e:#}"))),
            same,
        };
        println!("{}", row.line());
        rows.push(row);
    }
    let report = results::Report {
        scale: lake_args.scale,
        seed: lake_args.seed,
        hot,
        processes,
        stats,
        rows,
        machine: results::machine(),
        load_start,
        load_end: results::load_average(),
        elapsed_secs: started.elapsed().as_secs_f64(),
    };
    report.print_summary();
    if only.is_none() {
        std::fs::create_dir_all(&results_dir)?;
        let base = results_dir.join(lake_args.scale.name());
        std::fs::write(base.with_extension("md"), report.markdown())?;
        std::fs::write(base.with_extension("csv"), report.csv())?;
        eprintln!("results: {} and .csv", base.with_extension("md").display());
    }
    let failures = report.failures();
    if !failures.is_empty() {
        bail!(
            "{} queries failed or disagree:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let command = Cli::parse().command;
    // The query workers get the CLI's query malloc settings, before any thread starts, so
    // the bench measures them. Generating the lake (here or inside `run`) keeps glibc's
    // defaults, as `patchlake collect` and `finalize` do, so the writer figures are theirs.
    if matches!(command, Command::Worker { .. }) {
        patchlake_query::malloc::tune();
    }
    run_main(command)
}

#[tokio::main]
async fn run_main(command: Command) -> Result<()> {
    match command {
        Command::Run {
            lake,
            hot,
            processes,
            python,
            no_duckdb,
            only,
            results,
        } => run(lake, hot, processes, python, no_duckdb, only, results).await,
        Command::Generate { lake, force } => {
            let (root, stats) = ensure_lake(&lake, force).await?;
            results::print_lake(&stats);
            println!("lake: {}", root.display());
            Ok(())
        }
        Command::Worker {
            engine,
            suite,
            query,
            hot,
            out,
        } => match engine.as_str() {
            "datafusion" => engines::datafusion_worker(&suite, &query, hot, &out).await,
            other => bail!("unknown engine {other:?}: the DuckDB worker is bench/duckdb_runner.py"),
        },
    }
}
