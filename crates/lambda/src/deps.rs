//! What every handler is given: the validated configuration, the client factory and the lake.
//! Built once per Lambda execution environment, on the first invocation.

use std::path::Path;
use std::sync::Arc;

use aws_credential_types::Credentials;
use patchlake_assume::ClientFactory;
use patchlake_config::{Config, ConfigLoader};
use patchlake_lake::Lake;

use crate::error::{HandlerError, Result};

/// Environment variable naming a TOML configuration file (layered under `PATCHLAKE_*` keys).
pub const CONFIG_FILE_VAR: &str = "PATCHLAKE_CONFIG_FILE";
/// Environment variable holding a whole TOML configuration inline.
pub const CONFIG_TOML_VAR: &str = "PATCHLAKE_CONFIG_TOML";

/// The handlers' dependencies.
#[derive(Clone, Debug)]
pub struct Deps {
    pub config: Arc<Config>,
    pub factory: ClientFactory,
    pub lake: Lake,
}

impl Deps {
    /// Dependencies from a configuration. `credentials` replaces the standard chain for the
    /// starting identity (tests); on Lambda it is `None` (the function's role).
    pub async fn new(config: Config, credentials: Option<Credentials>) -> Result<Deps> {
        let factory = ClientFactory::new(&config.aws, credentials)
            .await
            .with_max_calls_per_second(config.collect.max_calls_per_second);
        let lake = open_lake(&config, &factory).await?;
        Ok(Deps {
            config: Arc::new(config),
            factory,
            lake,
        })
    }

    /// Dependencies from the process environment: an optional TOML (inline in
    /// `PATCHLAKE_CONFIG_TOML`, or the file `PATCHLAKE_CONFIG_FILE`), then `PATCHLAKE_*` keys.
    pub async fn from_env() -> Result<Deps> {
        let config = config_from_vars(std::env::vars())?;
        Deps::new(config, None).await
    }
}

/// The configuration named by environment variables `vars`; errors name the key and variable.
pub fn config_from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Config> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let bad = |e: patchlake_config::Error| HandlerError::bad_input(format!("configuration: {e}"));
    let mut loader = ConfigLoader::new();
    if let Some(text) = get(CONFIG_TOML_VAR) {
        loader = loader
            .toml(&text, &format!("environment variable {CONFIG_TOML_VAR}"))
            .map_err(bad)?;
    } else if let Some(path) = get(CONFIG_FILE_VAR) {
        loader = loader.file(Path::new(&path)).map_err(bad)?;
    }
    loader.env(vars).map_err(bad)?.load().map_err(bad)
}

/// Opens the lake of `lake.root`: a local directory, or `s3://bucket/prefix` through the
/// factory's S3 client and credentials.
async fn open_lake(config: &Config, factory: &ClientFactory) -> Result<Lake> {
    let root = &config.lake.root;
    let s3 = root
        .starts_with("s3://")
        .then(|| (factory.s3(&config.lake), factory.s3_credentials()));
    Lake::open_configured(&config.lake, s3)
        .await
        .map_err(|e| HandlerError::lake(&format!("opening the lake at lake.root = {root:?}"), &e))
}
