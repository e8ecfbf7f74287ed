//! `patchlake evidence`: write an audit evidence bundle for a committed run, and
//! `patchlake evidence verify` to recheck one.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use patchlake_config::Config;
use patchlake_evidence::{BundleMeta, build, verify};

use crate::report_cmd::open_query;

/// Exit code of `evidence verify` when a file is missing, extra or altered.
const EXIT_EVIDENCE_INVALID: u8 = 5;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    command: Option<EvidenceCommand>,
    /// Which committed run: latest, a run id, or a date (latest run on or before it).
    #[arg(long, default_value = "latest")]
    as_of: String,
    /// Where to write the bundle: a new directory, or a file ending in .zip.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Leave the report → control mapping (PCI DSS, NIST 800-53, CIS) out of the manifest.
    #[arg(long)]
    no_controls: bool,
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Recheck every file of a bundle (directory or .zip) against its manifest.
    Verify {
        /// The bundle.
        path: PathBuf,
    },
}

pub async fn evidence(
    args: EvidenceArgs,
    config: impl FnOnce() -> Result<Config>,
) -> Result<ExitCode> {
    if let Some(EvidenceCommand::Verify { path }) = args.command {
        if !path.exists() {
            bail!("no evidence bundle at {}", path.display());
        }
        let v = verify(&path)?;
        for p in &v.problems {
            println!("{}: {p}", path.display());
        }
        if !v.is_ok() {
            eprintln!(
                "evidence bundle {} does NOT verify: {} problem(s)",
                path.display(),
                v.problems.len()
            );
            return Ok(ExitCode::from(EXIT_EVIDENCE_INVALID));
        }
        println!(
            "{}: ok ({} files, run {}, manifest sha256 {})",
            path.display(),
            v.files_checked,
            v.manifest.run_id,
            v.manifest_sha256
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out) = args.out else {
        bail!("evidence needs --out DIR or --out FILE.zip (or `evidence verify PATH`)");
    };
    if out.exists() {
        bail!(
            "{} already exists; evidence is never overwritten",
            out.display()
        );
    }
    let config = config()?;
    let q = open_query(&config, &args.as_of).await?;
    let meta = BundleMeta {
        as_of: args.as_of.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        lake_root: config.lake.root.clone(),
        config_json: serde_json::to_vec(&config).context("serialising the configuration")?,
        controls: !args.no_controls,
    };
    let bundle = build(&q, &meta).await?;
    bundle.write(&out)?;
    println!(
        "wrote evidence for run {} to {} ({} files, manifest sha256 {})",
        q.run().run_id,
        out.display(),
        bundle.files.len() + 1,
        bundle.manifest_sha256()
    );
    Ok(ExitCode::SUCCESS)
}
