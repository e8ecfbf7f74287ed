//! `patchlake demo`: the whole pipeline against the in-process fleet simulator.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use aws_credential_types::Credentials;
use patchlake_config::{Config, ConfigLoader};
use patchlake_sim::{Fleet, FleetSpec, SimHandle, SimOptions, SimServer};

use crate::pipeline::{RunSummary, collect_run};

/// Credentials of the simulated hub identity. The simulator accepts any; these are not secrets.
pub fn simulator_credentials() -> Credentials {
    Credentials::new(
        "AKIAPATCHLAKEDEMO000",
        "patchlake-demo-secret-key",
        None,
        None,
        "patchlake-demo",
    )
}

/// Starts the simulator for `spec` on a free loopback port.
pub async fn start_simulator(spec: &FleetSpec, options: SimOptions) -> Result<SimHandle> {
    let fleet = Arc::new(Fleet::generate(spec));
    SimServer::start(fleet, options)
        .await
        .context("starting the fleet simulator")
}

/// A configuration that collects the simulator's whole fleet into `lake_root`.
pub fn config_for_simulator(sim: &SimHandle, lake_root: &Path) -> Result<Config> {
    let mut loader = ConfigLoader::new();
    for setting in simulator_settings(sim, lake_root) {
        loader = loader.set_arg(&setting)?;
    }
    Ok(loader.load()?)
}

/// The `key=value` settings (as `--set` takes them) that point a collection at the
/// simulator's whole fleet and write into `lake_root`: accounts, regions, role, ExternalId
/// and endpoint. [`config_for_simulator`] and tests driving the binary share them.
pub fn simulator_settings(sim: &SimHandle, lake_root: &Path) -> Vec<String> {
    let spec = sim.fleet().spec();
    let ids: Vec<String> = sim
        .fleet()
        .accounts()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    let mut settings = vec![
        format!("lake.root={}", lake_root.display()),
        format!("accounts.ids={}", ids.join(",")),
        format!("regions.names={}", spec.regions.join(",")),
        format!("roles.role_name={}", spec.role_name),
        format!("aws.endpoint_url={}", sim.endpoint()),
    ];
    if let Some(x) = &spec.external_id {
        settings.push(format!("roles.external_id={x}"));
    }
    settings
}

/// Options of `patchlake demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub spec: FleetSpec,
    pub lake_root: PathBuf,
}

/// Runs the demo's collection: simulator up, one committed run in the lake, simulator down.
pub async fn run_demo(opts: &DemoOptions) -> Result<(RunSummary, Config)> {
    let sim = start_simulator(&opts.spec, SimOptions::default()).await?;
    let config = config_for_simulator(&sim, &opts.lake_root)?;
    let summary = collect_run(Arc::new(config.clone()), Some(simulator_credentials())).await;
    sim.shutdown().await;
    Ok((summary?, config))
}
