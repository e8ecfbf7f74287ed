//! Shared set-up: the simulator, a config pointing at it, the functions behind the emulator,
//! and the runner over `infra/statemachine.asl.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_credential_types::Credentials;
use chrono::{TimeZone, Utc};
use futures::future::BoxFuture;
use patchlake_config::{Config, ConfigLoader};
use patchlake_lambda::Deps;
use patchlake_sim::{Fleet, FleetSpec, SimHandle, SimOptions, SimServer};
use serde_json::Value;

use crate::asl::{Invoker, ObjectReader, Runner};
use crate::emulator::{Function, FunctionError};

pub const ACCESS_KEY: &str = "AKIAPATCHLAKETEST000";
pub const SECRET_KEY: &str = "patchlake-test-secret";

pub fn credentials() -> Credentials {
    Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "patchlake-lambda-test")
}

/// A small fleet, pinned in time.
pub fn spec(accounts: usize, regions: &[&str], instances: usize) -> FleetSpec {
    FleetSpec {
        seed: 7,
        accounts,
        regions: regions.iter().map(|r| r.to_string()).collect(),
        instances_per_region: instances,
        anchor: Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
        ..FleetSpec::default()
    }
}

pub async fn sim(spec: &FleetSpec) -> SimHandle {
    SimServer::start(Arc::new(Fleet::generate(spec)), SimOptions::default())
        .await
        .unwrap()
}

/// A configuration collecting the simulator's whole fleet into `lake`, with `sets` applied.
pub fn config(sim: &SimHandle, lake: &Path, sets: &[&str]) -> Config {
    let mut loader = ConfigLoader::new();
    for s in patchlake::demo::simulator_settings(sim, lake) {
        loader = loader.set_arg(&s).unwrap();
    }
    for s in sets {
        loader = loader.set_arg(s).unwrap();
    }
    loader.load().unwrap()
}

pub async fn deps(config: &Config) -> Deps {
    Deps::new(config.clone(), Some(credentials()))
        .await
        .unwrap()
}

/// The environment of every function process: the whole configuration as inline TOML and
/// the simulator's (fake) credentials through the standard chain.
pub fn function_env(config: &Config) -> Vec<(String, String)> {
    vec![
        (patchlake_lambda::CONFIG_TOML_VAR.into(), config.to_toml()),
        ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ("AWS_LAMBDA_LOG_LEVEL".into(), "warn".into()),
    ]
}

/// The functions' one binary: Cargo's, or `$PATCHLAKE_LAMBDA_BIN_DIR/patchlake-lambda` when
/// set (a copy that another build sharing the target directory cannot replace during a
/// measurement). The emulator picks each function's handler with `_HANDLER`, as Lambda does.
pub fn binary() -> PathBuf {
    if let Some(dir) = std::env::var_os("PATCHLAKE_LAMBDA_BIN_DIR") {
        return Path::new(&dir).join("patchlake-lambda");
    }
    PathBuf::from(env!("CARGO_BIN_EXE_patchlake-lambda"))
}

/// The four functions, each a pool of real processes behind the emulator.
pub struct Functions {
    pub functions: HashMap<String, Function>,
}

impl Functions {
    pub fn start(config: &Config, max_per_function: usize) -> Functions {
        let env = function_env(config);
        let functions = ["plan", "collect", "finalize", "report"]
            .into_iter()
            .map(|n| {
                (
                    n.to_owned(),
                    Function::new(n, binary(), env.clone(), max_per_function),
                )
            })
            .collect();
        Functions { functions }
    }

    pub async fn shutdown(&self) {
        for f in self.functions.values() {
            f.shutdown().await;
        }
    }
}

impl Invoker for Functions {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, FunctionError>> {
        Box::pin(async move {
            match self.functions.get(function) {
                Some(f) => f.invoke(input).await,
                None => Err(FunctionError {
                    error_type: "Lambda.ResourceNotFoundException".into(),
                    error_message: format!("no function {function}"),
                }),
            }
        })
    }
}

pub fn definition() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/statemachine.asl.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// SAM's `DefinitionSubstitutions`, with function names for ARNs.
pub fn substitutions() -> HashMap<String, String> {
    [
        ("PlanFunctionArn", "plan"),
        ("CollectFunctionArn", "collect"),
        ("FinalizeFunctionArn", "finalize"),
        ("ReportFunctionArn", "report"),
        (
            "NotificationTopicArn",
            "arn:aws:sns:us-east-1:000000000000:patchlake-runs",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The ItemReader's S3: for a local lake, the bucket is the lake directory.
pub fn local_reader() -> ObjectReader {
    Arc::new(|bucket: &str, key: &str| {
        std::fs::read(Path::new(bucket).join(key)).map_err(|e| e.to_string())
    })
}

pub fn runner(invoker: Arc<dyn Invoker>) -> Runner {
    Runner::new(definition(), substitutions(), invoker, local_reader())
}
