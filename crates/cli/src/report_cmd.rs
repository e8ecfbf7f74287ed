//! `patchlake report` and `patchlake sql`: open the lake at the run `--as-of` selects, with
//! the report options of the configuration, run named reports or ad-hoc SQL, and write them
//! in one of the output formats (or, with `--all`, every report as one HTML page or one
//! workbook).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use clap::Args;
use patchlake::pipeline::open_lake;
use patchlake_config::Config;
use patchlake_query::{AsOf, LakeQuery, Report, ReportOptions, ReportParams};
use patchlake_report::{Format, HtmlMeta};

#[derive(Args)]
pub struct ReportArgs {
    /// Report name (see --list).
    name: Option<String>,
    /// List the reports and exit.
    #[arg(long)]
    list: bool,
    /// Every report: one HTML page (--format html) or one workbook with a sheet per report
    /// (--format xlsx), written to --out.
    #[arg(long, conflicts_with = "name")]
    all: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
pub struct SqlArgs {
    /// The query; tables hold the selected run, history_<table> every committed run.
    query: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
pub struct OutputArgs {
    /// Which committed run: latest, a run id, or a date (latest run on or before it).
    #[arg(long, default_value = "latest")]
    as_of: String,
    /// Output format: table, csv, json, md, parquet, html or xlsx (default: from the --out
    /// file's extension, else table).
    #[arg(long, short)]
    format: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

impl OutputArgs {
    fn format(&self) -> Result<Format> {
        match (&self.format, &self.out) {
            (Some(f), _) => Ok(f.parse()?),
            (None, Some(path)) => Ok(Format::from_path(path).unwrap_or(Format::Table)),
            (None, None) => Ok(Format::Table),
        }
    }
}

/// The report options the configuration's `report.*` keys set.
pub fn report_settings(config: &Config) -> (ReportParams, ReportOptions) {
    let r = &config.report;
    (
        ReportParams {
            stale_after_days: r.stale_after_days,
        },
        ReportOptions {
            pending_reboot_non_compliant: r.pending_reboot_non_compliant,
            rejected_non_compliant: r.rejected_non_compliant,
            exclude_inactive: r.exclude_inactive,
            trend_runs: r.trend_runs,
        },
    )
}

/// A query context over the run `as_of` (`latest`, a run id or a date) selects.
pub async fn open_query(config: &Config, as_of: &str) -> Result<LakeQuery> {
    let as_of = as_of.parse::<AsOf>().context("--as-of")?;
    let root = &config.lake.root;
    if !root.contains("://") && !Path::new(root).exists() {
        bail!(
            "no lake at lake.root = {root:?} (run `patchlake collect` or `patchlake demo` first)"
        );
    }
    let (params, options) = report_settings(config);
    let lake = open_lake(config).await?;
    LakeQuery::from_lake_with(&lake, as_of, params, options)
        .await
        .with_context(|| format!("lake.root = {root:?}"))
}

/// `patchlake report`.
pub async fn report(args: ReportArgs, config: impl FnOnce() -> Result<Config>) -> Result<()> {
    if args.list || (args.name.is_none() && !args.all) {
        for r in patchlake_query::list_reports() {
            println!("{:<34} {}", r.name, r.description);
        }
        return Ok(());
    }
    // Refuse a wrong name or format before touching the lake.
    if let Some(name) = &args.name {
        patchlake_query::find_report(name)?;
    }
    let format = args.output.format()?;
    if args.all {
        if !matches!(format, Format::Html | Format::Xlsx) {
            bail!("report --all writes one HTML page or one workbook: use --format html or xlsx");
        }
        let Some(out) = &args.output.out else {
            bail!("report --all --format {format} needs --out FILE");
        };
        let config = config()?;
        let q = open_query(&config, &args.output.as_of).await?;
        let reports = q.all_reports().await?;
        let bytes = render_all(&q, &reports, format, &config.lake.root)?;
        write_atomic(out, &bytes)?;
        eprintln!(
            "wrote {} ({} reports, run {})",
            out.display(),
            reports.len(),
            q.run().run_id
        );
        return Ok(());
    }
    let config = config()?;
    let q = open_query(&config, &args.output.as_of).await?;
    let name = args.name.expect("checked above");
    let batches = q.report(&name).await?;
    emit(&batches, format, args.output.out.as_deref(), &name)
}

/// `patchlake sql`.
pub async fn sql(args: SqlArgs, config: &Config) -> Result<()> {
    let format = args.output.format()?;
    let q = open_query(config, &args.output.as_of).await?;
    let batches = q.sql(&args.query).await?;
    emit(&batches, format, args.output.out.as_deref(), "query")
}

/// Every report as one HTML page or one XLSX workbook.
pub fn render_all(
    q: &LakeQuery,
    reports: &[(&'static Report, Vec<RecordBatch>)],
    format: Format,
    lake_root: &str,
) -> Result<Vec<u8>> {
    match format {
        Format::Html => {
            let sections: Vec<_> = reports
                .iter()
                .map(|(r, b)| (r.name, r.description, b.as_slice()))
                .collect();
            let mut facts = q.describe();
            facts.push(("lake".to_owned(), lake_root.to_owned()));
            facts.push(("patchlake".to_owned(), env!("CARGO_PKG_VERSION").to_owned()));
            let meta = HtmlMeta {
                title: "Patch compliance".to_owned(),
                facts,
            };
            Ok(patchlake_report::render_html(&sections, &meta)?.into_bytes())
        }
        Format::Xlsx => {
            let sheets: Vec<_> = reports
                .iter()
                .map(|(r, b)| (r.name, b.as_slice()))
                .collect();
            Ok(patchlake_report::render_xlsx(&sheets)?)
        }
        other => bail!("cannot render every report as {other}; use html or xlsx"),
    }
}

/// Writes `bytes` to `path` through a temporary sibling renamed into place, so a reader
/// never sees half a report.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} into place", tmp.display()))
}

fn emit(batches: &[RecordBatch], format: Format, out: Option<&Path>, what: &str) -> Result<()> {
    match out {
        Some(path) => {
            patchlake_report::write_to_path(batches, format, path)
                .with_context(|| format!("writing {what} to {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            if format.is_binary() {
                bail!("{format} output is binary: give --out FILE");
            }
            patchlake_report::write(batches, format, std::io::stdout())?;
        }
    }
    Ok(())
}
