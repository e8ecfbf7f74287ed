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
    let spec = sim.fleet().spec();
    let ids: Vec<String> = sim
        .fleet()
        .accounts()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    let mut loader = ConfigLoader::new()
        .set_arg(&format!("lake.root={}", lake_root.display()))?
        .set_arg(&format!("accounts.ids={}", ids.join(",")))?
        .set_arg(&format!("regions.names={}", spec.regions.join(",")))?
        .set_arg(&format!("roles.role_name={}", spec.role_name))?
        .set_arg(&format!("aws.endpoint_url={}", sim.endpoint()))?;
    if let Some(x) = &spec.external_id {
        loader = loader.set_arg(&format!("roles.external_id={x}"))?;
    }
    Ok(loader.load()?)
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
