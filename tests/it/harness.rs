//! Shared set-up: a simulator with a small fleet and a config pointing at it.

use std::path::Path;

use chrono::{TimeZone, Utc};
use patchlake::demo::{config_for_simulator, start_simulator};
use patchlake_config::Config;
use patchlake_sim::{FleetSpec, SimHandle, SimOptions};

/// A small fleet, pinned in time so its data is the same on every run.
pub fn small_spec(seed: u64) -> FleetSpec {
    FleetSpec {
        seed,
        accounts: 3,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        instances_per_region: 120,
        anchor: Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
        ..FleetSpec::default()
    }
}

pub async fn sim(spec: &FleetSpec) -> SimHandle {
    start_simulator(spec, SimOptions::default()).await.unwrap()
}

pub fn config(sim: &SimHandle, lake: &Path) -> Config {
    config_for_simulator(sim, lake).unwrap()
}

/// The config with `--set` style overrides applied.
pub fn with(config: &Config, sets: &[&str]) -> Config {
    let mut text = toml_of(config);
    for s in sets {
        let (k, v) = s.split_once('=').unwrap();
        let (section, key) = k.split_once('.').unwrap();
        text.push_str(&format!("\n[{section}]\n{key} = {v}\n"));
    }
    // Later tables of the same name are not valid TOML; go through the loader instead.
    let mut loader = patchlake_config::ConfigLoader::new()
        .toml(&toml_of(config), "test")
        .unwrap();
    for s in sets {
        loader = loader.set_arg(s).unwrap();
    }
    loader.load().unwrap()
}

fn toml_of(config: &Config) -> String {
    config.to_toml()
}
