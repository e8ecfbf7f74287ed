//! `patchlake.toml`: the run configuration, its defaults, overrides and validation.
//!
//! One owner for configuration: every other crate receives a validated [`Config`] and never
//! reads files or the environment itself. Every key can be set three ways, later ones winning:
//! the TOML file, an environment variable `PATCHLAKE_<SECTION>_<KEY>` (for example
//! `PATCHLAKE_LAKE_ROOT`), and a `--set section.key=value` flag. Errors name the key, where the
//! value came from, and what would fix it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A configuration error, naming the key and where its value came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("config key `{key}` ({origin}): {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The whole configuration of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub lake: LakeConfig,
    pub accounts: AccountsConfig,
    pub regions: RegionsConfig,
    pub roles: RolesConfig,
    pub aws: AwsConfig,
    pub collect: CollectConfig,
    pub report: ReportConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    /// Local directory (default `./lake`) or `s3://bucket/prefix`.
    pub root: String,
    /// S3 lakes: the 12-digit account that must own the bucket, sent as
    /// `ExpectedBucketOwner` on every request (S3 refuses with 403 otherwise).
    pub expected_bucket_owner: Option<String>,
    /// S3 lakes: KMS key (id, alias or ARN) for SSE-KMS; unset uses the bucket's default
    /// encryption.
    pub kms_key_id: Option<String>,
    /// S3 lakes: the bucket's region (defaults to `aws.home_region`).
    pub region: Option<String>,
    /// S3 lakes: send S3 calls to this endpoint (a test server); production leaves it unset.
    pub endpoint_url: Option<String>,
    /// S3 lakes: path-style addressing (`endpoint/bucket/key`); needed by most test servers.
    pub force_path_style: bool,
    /// S3 lakes: objects above this size are uploaded in parts of this size (at least 5).
    pub part_size_mib: u64,
    /// `finalize` and `lake compact` roll over to a new file of a table past this size.
    pub target_file_size_mib: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// Where the account list comes from: `static` (the `ids` list) or `organizations`.
    pub source: AccountSource,
    /// 12-digit account ids, as strings (`"012345678901"`: quote them so leading zeros stay).
    pub ids: Vec<String>,
    /// With `source = "organizations"`: role to assume in the management or delegated-admin
    /// account to list accounts (the starting identity is used when unset).
    pub organizations_role_arn: Option<String>,
    /// Accounts never collected, whatever the source.
    pub exclude: Vec<String>,
    /// With `source = "organizations"`: only accounts under these OUs (or roots), at any
    /// depth. Empty means the whole organization.
    pub include_ous: Vec<String>,
    /// With `source = "organizations"`: accounts under these OUs, at any depth, are skipped.
    pub exclude_ous: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountSource {
    Static,
    Organizations,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegionsConfig {
    /// `static`: exactly `names`; `enabled`: every region enabled in each account
    /// (opt-in regions included when opted in, disabled ones reported as skipped), limited
    /// to `names` when that is not empty.
    pub source: RegionSource,
    pub names: Vec<String>,
    /// Regions never collected, whatever the source.
    pub exclude: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionSource {
    Static,
    Enabled,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolesConfig {
    /// Role name in every member account; used when `arn_template` is not set.
    pub role_name: String,
    /// Full ARN with `{account_id}` in place of the account, e.g.
    /// `arn:aws:iam::{account_id}:role/patchlake/PatchlakeReadOnly`.
    pub arn_template: Option<String>,
    pub external_id: Option<String>,
    pub session_name: String,
    pub duration_seconds: i32,
    /// Optional first hop of a two-hop chain (hub → this role → member role): the starting
    /// identity assumes this role, and the member roles are assumed from its session.
    pub chain_via_role_arn: Option<String>,
    /// ExternalId for the first hop, when its trust policy requires one.
    pub chain_via_external_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Region for STS and Organizations calls (the hub's region).
    pub home_region: String,
    /// Named profile for the starting identity (else the standard credential chain).
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint (a simulator or test server); production leaves it unset.
    pub endpoint_url: Option<String>,
    /// Attempts per call, including the first, before a call is given up.
    pub max_attempts: u32,
    /// Timeout of one HTTP attempt, in seconds.
    pub attempt_timeout_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectConfig {
    /// Account-regions collected at once.
    pub concurrency: usize,
    /// Calls in flight at once within one account-region.
    pub per_region_concurrency: usize,
    /// Patch states to collect per-instance patches for; empty means every state.
    pub patch_states: Vec<String>,
    /// Reuse the previous committed run's per-instance patches for instances whose patch
    /// state is unchanged (same snapshot, end time and counts). `false` forces a full run.
    pub incremental: bool,
    /// Collect installed applications (inventory type `AWS:Application`) per instance.
    pub inventory_applications: bool,
    /// Upper bound on SSM calls per second per account-region; 0 leaves the pace to what
    /// the service allows (learned from throttling).
    pub max_calls_per_second: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// An instance whose last scan ended longer ago than this is `stale`.
    pub stale_after_days: i32,
    /// `InstalledPendingReboot > 0` makes an instance non-compliant (AWS's own default).
    pub pending_reboot_non_compliant: bool,
    /// `InstalledRejected > 0` makes an instance non-compliant.
    pub rejected_non_compliant: bool,
    /// Stopped, terminated and connection-lost instances are left out of compliance counts
    /// and percentages and counted apart.
    pub exclude_inactive: bool,
    /// How many committed runs, up to and including the selected one, trends cover.
    pub trend_runs: i32,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            root: "./lake".into(),
            expected_bucket_owner: None,
            kms_key_id: None,
            region: None,
            endpoint_url: None,
            force_path_style: false,
            part_size_mib: 8,
            target_file_size_mib: 512,
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            source: AccountSource::Static,
            ids: Vec::new(),
            organizations_role_arn: None,
            exclude: Vec::new(),
            include_ous: Vec::new(),
            exclude_ous: Vec::new(),
        }
    }
}

impl Default for RegionsConfig {
    fn default() -> Self {
        RegionsConfig {
            source: RegionSource::Static,
            names: vec!["us-east-1".into()],
            exclude: Vec::new(),
        }
    }
}

impl Default for RolesConfig {
    fn default() -> Self {
        RolesConfig {
            role_name: "PatchlakeReadOnly".into(),
            arn_template: None,
            external_id: None,
            session_name: "patchlake".into(),
            duration_seconds: 3600,
            chain_via_role_arn: None,
            chain_via_external_id: None,
        }
    }
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            home_region: "us-east-1".into(),
            profile: None,
            endpoint_url: None,
            max_attempts: 8,
            attempt_timeout_seconds: 30,
        }
    }
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            concurrency: 16,
            per_region_concurrency: 8,
            patch_states: Vec::new(),
            incremental: true,
            inventory_applications: true,
            max_calls_per_second: 0,
        }
    }
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            stale_after_days: 7,
            pending_reboot_non_compliant: true,
            rejected_non_compliant: false,
            exclude_inactive: true,
            trend_runs: 30,
        }
    }
}

/// The kind of value a key holds, for parsing overrides given as plain strings.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    StrList,
}

/// Every key, for env/flag overrides and for naming keys in errors.
const KEYS: &[(&str, Kind)] = &[
    ("lake.root", Kind::Str),
    ("lake.expected_bucket_owner", Kind::Str),
    ("lake.kms_key_id", Kind::Str),
    ("lake.region", Kind::Str),
    ("lake.endpoint_url", Kind::Str),
    ("lake.force_path_style", Kind::Bool),
    ("lake.part_size_mib", Kind::Int),
    ("lake.target_file_size_mib", Kind::Int),
    ("accounts.source", Kind::Str),
    ("accounts.ids", Kind::StrList),
    ("accounts.organizations_role_arn", Kind::Str),
    ("accounts.exclude", Kind::StrList),
    ("accounts.include_ous", Kind::StrList),
    ("accounts.exclude_ous", Kind::StrList),
    ("regions.source", Kind::Str),
    ("regions.names", Kind::StrList),
    ("regions.exclude", Kind::StrList),
    ("roles.role_name", Kind::Str),
    ("roles.arn_template", Kind::Str),
    ("roles.external_id", Kind::Str),
    ("roles.session_name", Kind::Str),
    ("roles.duration_seconds", Kind::Int),
    ("roles.chain_via_role_arn", Kind::Str),
    ("roles.chain_via_external_id", Kind::Str),
    ("aws.home_region", Kind::Str),
    ("aws.profile", Kind::Str),
    ("aws.endpoint_url", Kind::Str),
    ("aws.max_attempts", Kind::Int),
    ("aws.attempt_timeout_seconds", Kind::Int),
    ("collect.concurrency", Kind::Int),
    ("collect.per_region_concurrency", Kind::Int),
    ("collect.patch_states", Kind::StrList),
    ("collect.incremental", Kind::Bool),
    ("collect.inventory_applications", Kind::Bool),
    ("collect.max_calls_per_second", Kind::Int),
    ("report.stale_after_days", Kind::Int),
    ("report.pending_reboot_non_compliant", Kind::Bool),
    ("report.rejected_non_compliant", Kind::Bool),
    ("report.exclude_inactive", Kind::Bool),
    ("report.trend_runs", Kind::Int),
];

/// Every configuration key, `section.key`, as `--set` and `PATCHLAKE_<SECTION>_<KEY>` accept them.
pub fn keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(k, _)| *k)
}

/// Where a configuration came from, for error messages.
#[derive(Clone, Debug)]
pub struct Origin(String);

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Builds a [`Config`] from layers: defaults, a TOML document, env vars, `--set` flags.
#[derive(Debug)]
pub struct ConfigLoader {
    doc: toml::Table,
    origins: Vec<(String, String)>,
    base_origin: String,
}

impl Default for ConfigLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigLoader {
    /// Starts from the built-in defaults.
    pub fn new() -> Self {
        ConfigLoader {
            doc: toml::Table::new(),
            origins: Vec::new(),
            base_origin: "defaults".into(),
        }
    }

    /// Layers a TOML file on top.
    pub fn file(self, path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        self.toml(&text, &path.display().to_string())
    }

    /// Layers a TOML document on top; `origin` names it in errors.
    pub fn toml(mut self, text: &str, origin: &str) -> Result<Self> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        for (section, value) in table {
            match (self.doc.get_mut(&section), value) {
                (Some(toml::Value::Table(existing)), toml::Value::Table(new)) => {
                    for (k, v) in new {
                        self.origins
                            .push((format!("{section}.{k}"), origin.to_owned()));
                        existing.insert(k, v);
                    }
                }
                (_, value) => {
                    if let toml::Value::Table(t) = &value {
                        for k in t.keys() {
                            self.origins
                                .push((format!("{section}.{k}"), origin.to_owned()));
                        }
                    }
                    self.doc.insert(section, value);
                }
            }
        }
        self.base_origin = origin.to_owned();
        Ok(self)
    }

    /// Layers `PATCHLAKE_<SECTION>_<KEY>` variables from `vars` (pass `std::env::vars()`).
    pub fn env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("PATCHLAKE_") else {
                continue;
            };
            let wanted = rest.to_ascii_lowercase();
            // Only variables that name a key are overrides; others (PATCHLAKE_LOG...) are not ours.
            if let Some((key, _)) = KEYS.iter().find(|(k, _)| k.replacen('.', "_", 1) == wanted) {
                self.set(key, &value, &format!("environment variable {name}"))?;
            }
        }
        Ok(self)
    }

    /// Layers one `section.key=value` override (the CLI's `--set`).
    pub fn set_arg(mut self, assignment: &str) -> Result<Self> {
        let origin = format!("--set {assignment}");
        let (key, value) = assignment.split_once('=').ok_or_else(|| Error::Parse {
            origin: origin.clone(),
            message: "expected section.key=value, e.g. --set lake.root=/data/lake".into(),
        })?;
        self.set(key.trim(), value.trim(), &origin)?;
        Ok(self)
    }

    fn set(&mut self, key: &str, raw: &str, origin: &str) -> Result<()> {
        let Some((_, kind)) = KEYS.iter().find(|(k, _)| *k == key) else {
            return Err(Error::Invalid {
                key: key.to_owned(),
                origin: origin.to_owned(),
                message: format!(
                    "unknown key; known keys are: {}",
                    KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                ),
            });
        };
        let value = match kind {
            Kind::Str => toml::Value::String(raw.to_owned()),
            Kind::Int => toml::Value::Integer(raw.parse().map_err(|_| Error::Invalid {
                key: key.to_owned(),
                origin: origin.to_owned(),
                message: format!("expected a whole number, got {raw:?}"),
            })?),
            Kind::Bool => toml::Value::Boolean(match raw.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(Error::Invalid {
                        key: key.to_owned(),
                        origin: origin.to_owned(),
                        message: format!("expected true or false, got {raw:?}"),
                    });
                }
            }),
            Kind::StrList => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
        };
        let (section, field) = key.split_once('.').expect("keys are section.field");
        let entry = self
            .doc
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = entry {
            t.insert(field.to_owned(), value);
        }
        self.origins.push((key.to_owned(), origin.to_owned()));
        Ok(())
    }

    fn origin_of(&self, key: &str) -> String {
        let key = key.split('[').next().unwrap_or(key);
        self.origins
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, o)| o.clone())
            .unwrap_or_else(|| "defaults".into())
    }

    /// Deserializes and validates the layered configuration.
    pub fn load(self) -> Result<Config> {
        let config: Config =
            toml::Value::Table(self.doc.clone())
                .try_into()
                .map_err(|e: toml::de::Error| Error::Parse {
                    origin: self.base_origin.clone(),
                    message: e.to_string().trim_end().to_owned(),
                })?;
        config.validate(&|key| self.origin_of(key))?;
        Ok(config)
    }
}

fn is_role_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":role/")
}

impl Config {
    /// Parses and validates a TOML document over the defaults.
    pub fn from_toml(text: &str) -> Result<Config> {
        ConfigLoader::new().toml(text, "config")?.load()
    }

    fn validate(&self, origin: &dyn Fn(&str) -> String) -> Result<()> {
        let invalid = |key: &str, message: String| Error::Invalid {
            key: key.to_owned(),
            origin: origin(key),
            message,
        };
        if self.lake.root.trim().is_empty() {
            return Err(invalid(
                "lake.root",
                "must not be empty; use a directory such as ./lake".into(),
            ));
        }
        if self.lake.root.contains("://") && !self.lake.root.starts_with("s3://") {
            return Err(invalid(
                "lake.root",
                format!(
                    "unsupported scheme in {:?}: use a local directory or s3://bucket/prefix",
                    self.lake.root
                ),
            ));
        }
        if self.accounts.source == AccountSource::Static && self.accounts.ids.is_empty() {
            return Err(invalid(
                "accounts.ids",
                "is empty: list the 12-digit account ids to collect (as quoted strings), or set accounts.source = \"organizations\"".into(),
            ));
        }
        for (i, id) in self.accounts.ids.iter().enumerate() {
            patchlake_model::validate_account_id(id)
                .map_err(|e| invalid(&format!("accounts.ids[{i}]"), e.to_string()))?;
        }
        for (i, id) in self.accounts.exclude.iter().enumerate() {
            patchlake_model::validate_account_id(id)
                .map_err(|e| invalid(&format!("accounts.exclude[{i}]"), e.to_string()))?;
        }
        for (key, ous) in [
            ("accounts.include_ous", &self.accounts.include_ous),
            ("accounts.exclude_ous", &self.accounts.exclude_ous),
        ] {
            for (i, ou) in ous.iter().enumerate() {
                if !(ou.starts_with("ou-") || ou.starts_with("r-")) {
                    return Err(invalid(
                        &format!("{key}[{i}]"),
                        format!("{ou:?} is not an OU id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)"),
                    ));
                }
            }
        }
        if self.regions.source == RegionSource::Static && self.regions.names.is_empty() {
            return Err(invalid(
                "regions.names",
                "is empty: list at least one region such as \"us-east-1\", or set regions.source = \"enabled\"".into(),
            ));
        }
        for (key, list) in [
            ("regions.names", &self.regions.names),
            ("regions.exclude", &self.regions.exclude),
        ] {
            for (i, r) in list.iter().enumerate() {
                patchlake_model::validate_region(r)
                    .map_err(|e| invalid(&format!("{key}[{i}]"), e.to_string()))?;
            }
        }
        if let Some(owner) = &self.lake.expected_bucket_owner {
            patchlake_model::validate_account_id(owner)
                .map_err(|e| invalid("lake.expected_bucket_owner", e.to_string()))?;
        }
        if let Some(r) = &self.lake.region {
            patchlake_model::validate_region(r)
                .map_err(|e| invalid("lake.region", e.to_string()))?;
        }
        if !(5..=5120).contains(&self.lake.part_size_mib) {
            return Err(invalid(
                "lake.part_size_mib",
                format!(
                    "{} is outside S3's part size range of 5 to 5120 MiB",
                    self.lake.part_size_mib
                ),
            ));
        }
        if self.lake.target_file_size_mib == 0 {
            return Err(invalid(
                "lake.target_file_size_mib",
                "must be at least 1".into(),
            ));
        }
        if self.report.trend_runs < 1 {
            return Err(invalid("report.trend_runs", "must be at least 1".into()));
        }
        patchlake_model::validate_region(&self.aws.home_region)
            .map_err(|e| invalid("aws.home_region", e.to_string()))?;
        if let Some(t) = &self.roles.arn_template {
            let probe = t.replace("{account_id}", "000000000000");
            let ok = t.contains("{account_id}")
                && probe.starts_with("arn:aws")
                && probe.contains(":iam::000000000000:role/")
                && !probe.contains('{');
            if !ok {
                return Err(invalid(
                    "roles.arn_template",
                    format!(
                        "{t:?} is not a role ARN template: expected arn:aws:iam::{{account_id}}:role/NAME"
                    ),
                ));
            }
        } else if self.roles.role_name.is_empty()
            || !self
                .roles
                .role_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
        {
            return Err(invalid(
                "roles.role_name",
                format!(
                    "{:?} is not an IAM role name (letters, digits and +=,.@_-)",
                    self.roles.role_name
                ),
            ));
        }
        for (key, arn) in [
            (
                "accounts.organizations_role_arn",
                &self.accounts.organizations_role_arn,
            ),
            ("roles.chain_via_role_arn", &self.roles.chain_via_role_arn),
        ] {
            if let Some(arn) = arn
                && !is_role_arn(arn)
            {
                return Err(invalid(
                    key,
                    format!("{arn:?} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                ));
            }
        }
        for (key, id) in [
            ("roles.external_id", &self.roles.external_id),
            (
                "roles.chain_via_external_id",
                &self.roles.chain_via_external_id,
            ),
        ] {
            if let Some(x) = id
                && (x.len() < 2 || x.len() > 1224)
            {
                return Err(invalid(key, "must be 2 to 1224 characters".into()));
            }
        }
        if !(2..=64).contains(&self.roles.session_name.len()) {
            return Err(invalid(
                "roles.session_name",
                "must be 2 to 64 characters".into(),
            ));
        }
        if !(900..=43200).contains(&self.roles.duration_seconds) {
            return Err(invalid(
                "roles.duration_seconds",
                format!(
                    "{} is outside STS's range of 900 to 43200 seconds",
                    self.roles.duration_seconds
                ),
            ));
        }
        for (key, url) in [
            ("aws.endpoint_url", &self.aws.endpoint_url),
            ("lake.endpoint_url", &self.lake.endpoint_url),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(invalid(key, format!("{url:?} is not an http(s) URL")));
            }
        }
        if self.aws.max_attempts == 0 {
            return Err(invalid("aws.max_attempts", "must be at least 1".into()));
        }
        if self.collect.concurrency == 0 {
            return Err(invalid("collect.concurrency", "must be at least 1".into()));
        }
        if self.collect.per_region_concurrency == 0 {
            return Err(invalid(
                "collect.per_region_concurrency",
                "must be at least 1".into(),
            ));
        }
        const STATES: [&str; 7] = [
            "Installed",
            "InstalledOther",
            "InstalledPendingReboot",
            "InstalledRejected",
            "Missing",
            "Failed",
            "NotApplicable",
        ];
        for (i, s) in self.collect.patch_states.iter().enumerate() {
            if !STATES.contains(&s.as_str()) {
                return Err(invalid(
                    &format!("collect.patch_states[{i}]"),
                    format!("unknown patch state {s:?}; known: {}", STATES.join(", ")),
                ));
            }
        }
        if self.report.stale_after_days < 1 {
            return Err(invalid(
                "report.stale_after_days",
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The role ARN to assume in `account_id`.
    pub fn role_arn(&self, account_id: &str) -> String {
        match &self.roles.arn_template {
            Some(t) => t.replace("{account_id}", account_id),
            None => format!("arn:aws:iam::{account_id}:role/{}", self.roles.role_name),
        }
    }

    /// SHA-256 of the canonical form of this configuration, recorded with every run.
    pub fn sha256(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("config serializes");
        hex::encode(Sha256::digest(canonical))
    }

    /// The configuration as TOML, for `patchlake config show`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [accounts]
        ids = ["012345678901", "123456789012"]
        [regions]
        names = ["us-east-1", "eu-west-1"]
        [roles]
        external_id = "abc123"
    "#;

    #[test]
    fn parses_and_keeps_account_ids_as_strings() {
        let c = Config::from_toml(GOOD).unwrap();
        assert_eq!(c.accounts.ids[0], "012345678901");
        assert_eq!(
            c.role_arn("012345678901"),
            "arn:aws:iam::012345678901:role/PatchlakeReadOnly"
        );
        assert_eq!(c.lake.root, "./lake");
        assert_eq!(c.sha256().len(), 64);
    }

    #[test]
    fn enabled_regions_need_no_list_and_every_key_has_a_default() {
        let c = Config::from_toml(
            "[accounts]\nids = [\"012345678901\"]\n[regions]\nsource = \"enabled\"\nnames = []",
        )
        .unwrap();
        assert_eq!(c.regions.source, RegionSource::Enabled);
        // Every key in KEYS can be overridden, so each names a real field.
        let mut loader = ConfigLoader::new().toml(GOOD, "patchlake.toml").unwrap();
        for (key, kind) in KEYS {
            let value = match (key, kind) {
                (_, Kind::Bool) => "true",
                (k, Kind::Int) if k.ends_with("duration_seconds") => "3600",
                (_, Kind::Int) => "8",
                (k, _) if k.ends_with("source") => "static",
                (k, _) if k.contains("arn") => "arn:aws:iam::{account_id}:role/x",
                (k, _)
                    if k.ends_with("ids") || k.ends_with("owner") || *k == "accounts.exclude" =>
                {
                    "012345678901"
                }
                (k, _) if k.contains("ous") => "ou-ab12-cdef3456",
                (k, _) if k.contains("region") || k.ends_with("names") => "eu-west-1",
                (k, _) if k.ends_with("url") => "http://127.0.0.1:1",
                (k, _) if k.ends_with("patch_states") => "Missing",
                _ => "value-ok",
            };
            loader = loader.set_arg(&format!("{key}={value}")).unwrap();
        }
        let c = loader.load().unwrap();
        assert_eq!(c.regions.exclude, vec!["eu-west-1"]);
        assert!(c.report.exclude_inactive && c.lake.force_path_style);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml(&format!("{GOOD}\n[lake]\nrooot = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("rooot"), "{err}");
    }

    #[test]
    fn malformed_values_name_the_key() {
        let cases = [
            (
                r#"[accounts]
                ids = ["12345"]"#,
                "accounts.ids[0]",
            ),
            (
                r#"[accounts]
                ids = []"#,
                "accounts.ids",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [regions]
                names = ["moon-1"]"#,
                "regions.names[0]",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [roles]
                arn_template = "arn:aws:iam::123:role/x""#,
                "roles.arn_template",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [roles]
                duration_seconds = 60"#,
                "roles.duration_seconds",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [lake]
                root = "gs://bucket""#,
                "lake.root",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [lake]
                expected_bucket_owner = "me""#,
                "lake.expected_bucket_owner",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [lake]
                part_size_mib = 1"#,
                "lake.part_size_mib",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [regions]
                exclude = ["nowhere"]"#,
                "regions.exclude[0]",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [regions]
                names = []"#,
                "regions.names",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [roles]
                chain_via_role_arn = "hub""#,
                "roles.chain_via_role_arn",
            ),
            (
                r#"[accounts]
                ids = ["012345678901"]
                [report]
                trend_runs = 0"#,
                "report.trend_runs",
            ),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        // A wrong type is named by the TOML layer.
        let err = Config::from_toml("[collect]\nconcurrency = \"many\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("concurrency"), "{err}");
        // Numbers instead of quoted account ids are refused, not silently converted.
        let err = Config::from_toml("[accounts]\nids = [12345678901]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ids"), "{err}");
    }

    #[test]
    fn env_and_flags_override_the_file_in_order() {
        let c = ConfigLoader::new()
            .toml(GOOD, "patchlake.toml")
            .unwrap()
            .env([
                ("PATCHLAKE_LAKE_ROOT".to_string(), "/env/lake".to_string()),
                (
                    "PATCHLAKE_REGIONS_NAMES".into(),
                    "us-west-2, ap-south-1".into(),
                ),
                ("PATCHLAKE_LOG".into(), "debug".into()),
                ("HOME".into(), "/root".into()),
            ])
            .unwrap()
            .set_arg("collect.concurrency=3")
            .unwrap()
            .set_arg("lake.root=/flag/lake")
            .unwrap()
            .load()
            .unwrap();
        assert_eq!(c.lake.root, "/flag/lake");
        assert_eq!(c.regions.names, vec!["us-west-2", "ap-south-1"]);
        assert_eq!(c.collect.concurrency, 3);
        assert_eq!(c.accounts.ids.len(), 2);
    }

    #[test]
    fn bad_override_names_its_origin() {
        let err = ConfigLoader::new()
            .toml(GOOD, "patchlake.toml")
            .unwrap()
            .env([(
                "PATCHLAKE_COLLECT_CONCURRENCY".to_string(),
                "lots".to_string(),
            )])
            .unwrap_err()
            .to_string();
        assert!(err.contains("collect.concurrency"), "{err}");
        assert!(err.contains("PATCHLAKE_COLLECT_CONCURRENCY"), "{err}");
        let err = ConfigLoader::new()
            .set_arg("lake.nope=1")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("lake.nope") && err.contains("known keys"),
            "{err}"
        );
        let err = ConfigLoader::new()
            .toml(GOOD, "patchlake.toml")
            .unwrap()
            .set_arg("accounts.ids=1")
            .unwrap()
            .load()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("accounts.ids[0]") && err.contains("--set"),
            "{err}"
        );
    }

    #[test]
    fn malformed_toml_names_the_file_and_line() {
        let err = ConfigLoader::new()
            .toml("[lake\nroot=1", "my.toml")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("my.toml") && err.contains("line"), "{err}");
    }
}
