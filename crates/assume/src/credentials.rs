use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use patchlake_config::Config;
use tokio::sync::{Mutex, OnceCell};

use crate::error::{Error, Result, classify};
use crate::factory::ClientFactory;
use crate::stats::CallStats;

/// An account's session, assumed once; a non-retryable failure is remembered too.
type SessionCell = OnceCell<Result<SharedCredentialsProvider, Arc<Error>>>;

/// Assumes the member-account role, one session per account shared by all its regions.
///
/// Sessions are cached for the whole run and refreshed shortly before they expire. A denial
/// is cached too, so an account whose role is missing costs one AssumeRole call, not one per
/// region.
#[derive(Debug)]
pub struct RoleAssumer {
    factory: ClientFactory,
    config: Arc<Config>,
    stats: Arc<CallStats>,
    sessions: std::sync::Mutex<HashMap<String, Arc<SessionCell>>>,
}

impl RoleAssumer {
    pub fn new(factory: ClientFactory, config: Arc<Config>) -> Self {
        RoleAssumer {
            factory,
            config,
            stats: CallStats::new(),
            sessions: Default::default(),
        }
    }

    /// STS calls made so far (AssumeRole, including refreshes).
    pub fn stats(&self) -> &Arc<CallStats> {
        &self.stats
    }

    /// A refreshing session of an explicitly named role (the Organizations reader role, a hop
    /// of a role chain), not cached.
    pub async fn session_for_arn(&self, role_arn: &str) -> Result<SharedCredentialsProvider> {
        let account_id = role_arn.split(':').nth(4).unwrap_or_default().to_owned();
        let session = AssumedRole::start(
            self.factory.sts(None, &self.stats),
            account_id,
            role_arn.to_owned(),
            &self.config,
        )
        .await?;
        Ok(SharedCredentialsProvider::new(session))
    }

    /// Credentials of the role session in `account_id`, assuming the role on first use.
    pub async fn credentials_for(
        &self,
        account_id: &str,
    ) -> Result<SharedCredentialsProvider, Arc<Error>> {
        let cell = {
            let mut sessions = self.sessions.lock().expect("session cache poisoned");
            sessions.entry(account_id.to_owned()).or_default().clone()
        };
        let result = cell
            .get_or_init(|| async {
                let session = AssumedRole::start(
                    self.factory.sts(None, &self.stats),
                    account_id.to_owned(),
                    self.config.role_arn(account_id),
                    &self.config,
                )
                .await
                .map_err(Arc::new)?;
                Ok(SharedCredentialsProvider::new(session))
            })
            .await
            .clone();
        if let Err(e) = &result
            && e.kind().is_retryable()
        {
            // Do not remember a transient failure: a later task for the account may succeed.
            self.sessions
                .lock()
                .expect("session cache poisoned")
                .remove(account_id);
        }
        result
    }
}

/// What to assume in one account.
#[derive(Debug, Clone)]
struct RoleParams {
    account_id: String,
    role_arn: String,
    session_name: String,
    external_id: Option<String>,
    duration_seconds: i32,
}

/// A refreshing role session: a credentials provider that re-assumes the role when the
/// current credentials are close to expiry.
#[derive(Debug)]
struct AssumedRole {
    sts: aws_sdk_sts::Client,
    params: RoleParams,
    current: Mutex<Credentials>,
}

impl AssumedRole {
    async fn start(
        sts: aws_sdk_sts::Client,
        account_id: String,
        role_arn: String,
        config: &Config,
    ) -> Result<Self> {
        let params = RoleParams {
            account_id,
            role_arn,
            session_name: config.roles.session_name.clone(),
            external_id: config.roles.external_id.clone(),
            duration_seconds: config.roles.duration_seconds,
        };
        let creds = assume(&sts, &params).await?;
        Ok(AssumedRole {
            sts,
            params,
            current: Mutex::new(creds),
        })
    }

    /// How long before expiry a session is renewed: five minutes, or a quarter of the session
    /// for short sessions.
    fn refresh_margin(&self) -> Duration {
        Duration::from_secs(300.min(self.params.duration_seconds.max(4) as u64 / 4))
    }

    async fn load(&self) -> provider::Result {
        let mut current = self.current.lock().await;
        let fresh = current.expiry().is_none_or(|exp| {
            exp.duration_since(SystemTime::now())
                .is_ok_and(|left| left > self.refresh_margin())
        });
        if !fresh {
            tracing::debug!(account_id = %self.params.account_id, "refreshing role session before expiry");
            *current = assume(&self.sts, &self.params)
                .await
                .map_err(CredentialsError::provider_error)?;
        }
        Ok(current.clone())
    }
}

async fn assume(sts: &aws_sdk_sts::Client, p: &RoleParams) -> Result<Credentials> {
    let out = sts
        .assume_role()
        .role_arn(&p.role_arn)
        .role_session_name(&p.session_name)
        .set_external_id(p.external_id.clone())
        .duration_seconds(p.duration_seconds)
        .send()
        .await
        .map_err(|e| Error::AssumeRole {
            account_id: p.account_id.clone(),
            role_arn: p.role_arn.clone(),
            source: classify("sts:AssumeRole", &e),
        })?;
    let c = out.credentials().ok_or_else(|| Error::NoCredentials {
        role_arn: p.role_arn.clone(),
    })?;
    let expiry = SystemTime::try_from(*c.expiration()).ok();
    tracing::debug!(account_id = %p.account_id, role_arn = %p.role_arn, "assumed role");
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        expiry,
        "patchlake-assume-role",
    ))
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.load())
    }
}
