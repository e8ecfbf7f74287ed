//! `patchlake`: multi-account SSM patch compliance into a Parquet lake, reported with SQL.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use clap::{Args, Parser, Subcommand};
use patchlake::demo::{DemoOptions, run_demo, start_simulator};
use patchlake::pipeline::{RunSummary, collect_run, open_lake};
use patchlake_config::{Config, ConfigLoader};
use patchlake_query::{AsOf, LakeQuery, ReportParams};
use patchlake_report::Format;
use patchlake_sim::{FleetSpec, SimOptions, TruthOptions};

/// Exit code of a collection that committed a run but could not collect everything.
const EXIT_PARTIAL: u8 = 3;
/// Exit code of `lake verify` when a file does not match the run record.
const EXIT_VERIFY_FAILED: u8 = 4;

#[derive(Parser)]
#[command(
    name = "patchlake",
    version,
    about = "Multi-account AWS SSM patch compliance into a Parquet lake, reported with SQL"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Configuration file (default: ./patchlake.toml when it exists).
    #[arg(short, long, global = true, env = "PATCHLAKE_CONFIG")]
    config: Option<PathBuf>,
    /// Override one configuration key, e.g. --set lake.root=/data/lake (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Log format: text (default on a terminal) or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
}

#[derive(Subcommand)]
enum Command {
    /// Collect a simulated multi-account fleet into ./lake and print compliance reports.
    Demo(DemoArgs),
    /// Collect every configured account and region into the lake and commit the run.
    Collect {
        /// Call DescribeInstancePatches for every instance, even where the previous run's
        /// rows could be reused (same as --set collect.incremental=false).
        #[arg(long)]
        full: bool,
    },
    /// Run a named report over a committed run (see --list).
    Report(ReportArgs),
    /// Run ad-hoc SQL over the lake's tables (instances, patch_states, instance_patches, ...).
    Sql(SqlArgs),
    /// Inspect and check the lake.
    #[command(subcommand)]
    Lake(LakeCommand),
    /// The fleet simulator: a simulated AWS organization on loopback.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Show or check the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Args, Clone)]
struct FleetArgs {
    /// Seed of the simulated fleet (same seed, same fleet).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of member accounts.
    #[arg(long, default_value_t = 5)]
    accounts: usize,
    /// Regions, comma separated.
    #[arg(long, default_value = "us-east-1,eu-west-1", value_delimiter = ',')]
    regions: Vec<String>,
    /// Managed instances per account and region.
    #[arg(long, default_value_t = 200)]
    instances: usize,
}

impl FleetArgs {
    fn spec(&self) -> FleetSpec {
        FleetSpec {
            seed: self.seed,
            accounts: self.accounts,
            regions: self.regions.clone(),
            instances_per_region: self.instances,
            ..FleetSpec::default()
        }
    }
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Lake directory.
    #[arg(long, default_value = "./lake")]
    lake: PathBuf,
    /// Directory the report CSV files are written to.
    #[arg(long, default_value = "./reports")]
    reports: PathBuf,
}

#[derive(Args)]
struct ReportArgs {
    /// Report name (see --list).
    name: Option<String>,
    /// List the reports and exit.
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct SqlArgs {
    /// The query; tables hold the selected run, history_<table> every committed run.
    query: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct OutputArgs {
    /// Which committed run: latest, a run id, or a date (latest run on or before it).
    #[arg(long, default_value = "latest")]
    as_of: String,
    /// Output format: table, csv, json, md or parquet.
    #[arg(long, short, default_value = "table")]
    format: String,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum LakeCommand {
    /// List committed and staged runs.
    Ls,
    /// Recompute every file's SHA-256 and row count against the run record.
    Verify {
        /// Run id (default: every committed run).
        run_id: Option<String>,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// Serve the simulated fleet until interrupted.
    Serve {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Port on 127.0.0.1 (default: a free one).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Print the simulated fleet's expected compliance aggregates as JSON.
    Truth {
        #[command(flatten)]
        fleet: FleetArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration as TOML.
    Show,
    /// Validate the configuration and exit.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.global.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PATCHLAKE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_config(global: &Global) -> Result<Config> {
    let mut loader = ConfigLoader::new();
    let default = PathBuf::from("patchlake.toml");
    match &global.config {
        Some(path) => loader = loader.file(path)?,
        None if default.exists() => loader = loader.file(&default)?,
        None => {}
    }
    loader = loader.env(std::env::vars())?;
    for s in &global.set {
        loader = loader.set_arg(s)?;
    }
    Ok(loader.load()?)
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo(args).await,
        Command::Collect { full } => {
            let mut config = load_config(&cli.global)?;
            if full {
                config.collect.incremental = false;
            }
            let config = Arc::new(config);
            let summary = collect_run(config, None).await?;
            print_summary(&summary);
            Ok(if summary.is_complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_PARTIAL)
            })
        }
        Command::Report(args) => {
            if args.list || args.name.is_none() {
                for r in patchlake_query::list_reports() {
                    println!("{:<34} {}", r.name, r.description);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let config = load_config(&cli.global)?;
            let q = open_query(&config, &args.output.as_of).await?;
            let name = args.name.expect("checked above");
            let batches = q.report(&name).await?;
            emit(&batches, &args.output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql(args) => {
            let config = load_config(&cli.global)?;
            let q = open_query(&config, &args.output.as_of).await?;
            let batches = q.sql(&args.query).await?;
            emit(&batches, &args.output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lake(cmd) => lake(cmd, &load_config(&cli.global)?).await,
        Command::Sim(cmd) => sim(cmd).await,
        Command::Config(ConfigCommand::Show) => {
            print!("{}", load_config(&cli.global)?.to_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check) => {
            let c = load_config(&cli.global)?;
            println!("configuration is valid (sha256 {})", c.sha256());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn open_query(config: &Config, as_of: &str) -> Result<LakeQuery> {
    let as_of: AsOf = as_of.parse()?;
    let params = ReportParams {
        stale_after_days: config.report.stale_after_days,
    };
    let lake = open_lake(config)?;
    Ok(LakeQuery::from_lake(&lake, as_of, params).await?)
}

fn emit(batches: &[RecordBatch], out: &OutputArgs) -> Result<()> {
    let format: Format = out.format.parse()?;
    match &out.out {
        Some(path) => {
            patchlake_report::write_to_path(batches, format, path)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            patchlake_report::write(batches, format, std::io::stdout())?;
        }
    }
    Ok(())
}

fn print_summary(s: &RunSummary) {
    let r = &s.run;
    println!(
        "run {} committed: {} account-regions ok, {} partial, {} failed",
        r.run_id, r.tasks_ok, r.tasks_partial, r.tasks_failed
    );
    for (table, rows) in &r.row_counts {
        println!("  {table:<24} {rows:>10} rows");
    }
    for c in &s.coverage {
        if c.status != patchlake_model::CoverageStatus::Ok {
            println!(
                "  {} {} {}: {} {}",
                c.account_id,
                c.region,
                c.status.as_str(),
                c.error_code.as_deref().unwrap_or(""),
                c.error_message.as_deref().unwrap_or("")
            );
        }
    }
    for (account, why) in &s.skipped_accounts {
        println!("  account {account} skipped: {why}");
    }
}

async fn demo(args: DemoArgs) -> Result<ExitCode> {
    let spec = args.fleet.spec();
    eprintln!(
        "simulating {} accounts x {} regions x {} instances (seed {}) ...",
        spec.accounts,
        spec.regions.len(),
        spec.instances_per_region,
        spec.seed
    );
    let started = std::time::Instant::now();
    let (summary, config) = run_demo(&DemoOptions {
        spec,
        lake_root: args.lake.clone(),
    })
    .await?;
    print_summary(&summary);
    println!(
        "collected and committed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let q = open_query(&config, "latest").await?;
    std::fs::create_dir_all(&args.reports)
        .with_context(|| format!("creating {}", args.reports.display()))?;
    for name in ["compliance_by_patch_group", "compliance_by_baseline"] {
        let batches = q.report(name).await?;
        println!("\n{name}");
        patchlake_report::write(&batches, Format::Table, std::io::stdout())?;
        let csv = args.reports.join(format!("{name}.csv"));
        patchlake_report::write_to_path(&batches, Format::Csv, &csv)?;
    }
    println!(
        "\nlake: {}\nreports: {}\ntry: patchlake --set lake.root={} report --list",
        args.lake.display(),
        args.reports.display(),
        args.lake.display()
    );
    std::io::stdout().flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn lake(cmd: LakeCommand, config: &Config) -> Result<ExitCode> {
    let lake = open_lake(config)?;
    match cmd {
        LakeCommand::Ls => {
            let runs = lake.committed_runs().await?;
            if runs.is_empty() {
                println!("no committed run in {}", config.lake.root);
            }
            for r in &runs {
                let bytes: i64 = r.files.iter().map(|f| f.bytes).sum();
                println!(
                    "{}  committed  {} ok / {} partial / {} failed  {} files  {} bytes",
                    r.run_id,
                    r.tasks_ok,
                    r.tasks_partial,
                    r.tasks_failed,
                    r.files.len(),
                    bytes
                );
            }
            for s in lake.staged_runs().await? {
                println!(
                    "{}  {}  {} tasks staged  {} files  {} bytes",
                    s.run_id,
                    if s.committed {
                        "committed, staging left over"
                    } else {
                        "uncommitted"
                    },
                    s.tasks,
                    s.files,
                    s.bytes
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        LakeCommand::Verify { run_id } => {
            let ids = match run_id {
                Some(id) => vec![id.parse()?],
                None => lake
                    .committed_runs()
                    .await?
                    .into_iter()
                    .map(|r| r.run_id)
                    .collect(),
            };
            if ids.is_empty() {
                bail!("no committed run in {} to verify", config.lake.root);
            }
            let mut ok = true;
            for id in ids {
                let report = lake.verify(&id).await?;
                if report.is_ok() {
                    println!("{id}: ok ({} files)", report.files_checked);
                } else {
                    ok = false;
                    for p in &report.problems {
                        println!("{id}: {p}");
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_VERIFY_FAILED)
            })
        }
    }
}

async fn sim(cmd: SimCommand) -> Result<ExitCode> {
    match cmd {
        SimCommand::Serve { fleet, port } => {
            let spec = fleet.spec();
            let handle = start_simulator(
                &spec,
                SimOptions {
                    port,
                    ..SimOptions::default()
                },
            )
            .await?;
            let ids: Vec<&str> = handle
                .fleet()
                .accounts()
                .iter()
                .map(|a| a.id.as_str())
                .collect();
            println!("fleet simulator listening on {}", handle.endpoint());
            println!("accounts: {}", ids.join(","));
            println!("regions: {}", spec.regions.join(","));
            println!(
                "collect it with: patchlake --set aws.endpoint_url={} --set accounts.ids={} --set regions.names={}{} collect",
                handle.endpoint(),
                ids.join(","),
                spec.regions.join(","),
                spec.external_id
                    .as_deref()
                    .map(|x| format!(" --set roles.external_id={x}"))
                    .unwrap_or_default()
            );
            println!("(with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set to any value)");
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            handle.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        SimCommand::Truth { fleet } => {
            let f = patchlake_sim::Fleet::generate(&fleet.spec());
            let truth = f.truth(&TruthOptions::default());
            println!("{}", serde_json::to_string_pretty(&truth)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
