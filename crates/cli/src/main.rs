//! `patchlake`: multi-account SSM patch compliance into a Parquet lake, reported with SQL.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod evidence_cmd;
mod lake_cmd;
mod report_cmd;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use lake_cmd::LakeCommand;
use patchlake::demo::{DemoOptions, run_demo, start_simulator};
use patchlake::pipeline::{RunSummary, collect_run};
use patchlake_config::{Config, ConfigLoader};
use patchlake_report::Format;
use patchlake_sim::{FleetSpec, SimOptions, TruthOptions};
use report_cmd::{ReportArgs, SqlArgs, open_query};

/// Exit code of a collection that committed a run but could not collect everything.
const EXIT_PARTIAL: u8 = 3;

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
    /// Write an audit evidence bundle for a committed run, or verify one.
    Evidence(evidence_cmd::EvidenceArgs),
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

#[derive(Subcommand)]
enum SimCommand {
    /// Serve the simulated fleet until interrupted.
    Serve {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Port on 127.0.0.1 (default: a free one).
        #[arg(long)]
        port: Option<u16>,
        /// Faults to inject, e.g. "throttle=20/5,server_errors=0.05,spikes=0.01@2000,
        /// malformed=0.02,bad_tokens=0.05,deny_ssm=ACCOUNT/REGION,seed=7".
        #[arg(long, default_value = "", value_parser = parse_faults)]
        faults: patchlake_sim::FaultConfig,
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

impl Command {
    /// Whether the command runs DataFusion queries, and so gets the query processes' malloc
    /// settings (`patchlake_query::malloc`). Collection keeps glibc's defaults, which give
    /// freed memory back: its budget is peak RSS, not query latency.
    fn runs_queries(&self) -> bool {
        matches!(
            self,
            Command::Demo(_) | Command::Report(_) | Command::Sql(_) | Command::Evidence(_)
        )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread starts (the async runtime is built below).
    let malloc = cli
        .command
        .runs_queries()
        .then(patchlake_query::malloc::tune);
    init_tracing(&cli.global.log_format);
    tracing::debug!(?malloc, "glibc malloc settings");
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
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,patchlake::progress=info"));
    // Colour only for a person at a terminal: piped logs (CI, cron, files) stay plain text.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
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
            report_cmd::report(args, || load_config(&cli.global)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql(args) => {
            report_cmd::sql(args, &load_config(&cli.global)?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Evidence(args) => evidence_cmd::evidence(args, || load_config(&cli.global)).await,
        Command::Lake(cmd) => lake_cmd::run(cmd, &load_config(&cli.global)?).await,
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

fn parse_faults(spec: &str) -> std::result::Result<patchlake_sim::FaultConfig, String> {
    patchlake_sim::FaultConfig::parse(spec)
}

async fn sim(cmd: SimCommand) -> Result<ExitCode> {
    match cmd {
        SimCommand::Serve {
            fleet,
            port,
            faults,
        } => {
            let spec = fleet.spec();
            let handle = start_simulator(
                &spec,
                SimOptions {
                    port,
                    faults: faults.clone(),
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
            if faults != patchlake_sim::FaultConfig::default() {
                println!("faults: {faults}");
            }
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
