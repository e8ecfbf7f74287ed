use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
///
/// With `roles.chain_via_role_arn` the member roles are assumed in two hops: the starting
/// identity assumes the via-role once (cached and refreshed like a member session), and every
/// member role is assumed from the via-role's session. AWS caps sessions obtained by role
/// chaining at one hour, so member sessions are then at most 3600 s long (and refreshed).
#[derive(Debug)]
pub struct RoleAssumer {
    factory: ClientFactory,
    config: Arc<Config>,
    stats: Arc<CallStats>,
    sessions: std::sync::Mutex<HashMap<String, Arc<SessionCell>>>,
    via: std::sync::Mutex<Arc<SessionCell>>,
}

/// The longest session AWS grants to a role assumed from another role's session.
const CHAINED_SESSION_MAX_SECONDS: i32 = 3600;

fn account_of_arn(role_arn: &str) -> String {
    role_arn.split(':').nth(4).unwrap_or_default().to_owned()
}

impl RoleAssumer {
    pub fn new(factory: ClientFactory, config: Arc<Config>) -> Self {
        RoleAssumer {
            factory,
            config,
            stats: CallStats::new(),
            sessions: Default::default(),
            via: Default::default(),
        }
    }

    /// The session of the chain's first hop (`roles.chain_via_role_arn`), assumed from the
    /// starting identity on first use; `None` when no chain is configured.
    pub async fn via_session(&self) -> Result<Option<SharedCredentialsProvider>, Arc<Error>> {
        let Some(via_arn) = self.config.roles.chain_via_role_arn.clone() else {
            return Ok(None);
        };
        let cell = self.via.lock().expect("via-role cache poisoned").clone();
        let result = cell
            .get_or_init(|| async {
                let params = RoleParams {
                    account_id: account_of_arn(&via_arn),
                    role_arn: via_arn.clone(),
                    session_name: self.config.roles.session_name.clone(),
                    external_id: self.config.roles.chain_via_external_id.clone(),
                    duration_seconds: self.config.roles.duration_seconds,
                };
                let session = AssumedRole::start(self.factory.sts(None, &self.stats), params)
                    .await
                    .map_err(Arc::new)?;
                tracing::debug!(role_arn = %via_arn, "assumed the role chain's first hop");
                Ok(SharedCredentialsProvider::new(session))
            })
            .await
            .clone();
        if let Err(e) = &result
            && e.kind().is_retryable()
        {
            *self.via.lock().expect("via-role cache poisoned") = Arc::default();
        }
        result.map(Some)
    }

    /// STS calls made so far (AssumeRole, including refreshes).
    pub fn stats(&self) -> &Arc<CallStats> {
        &self.stats
    }

    /// A refreshing session of an explicitly named role (the Organizations reader role, a hop
    /// of a role chain), not cached.
    pub async fn session_for_arn(&self, role_arn: &str) -> Result<SharedCredentialsProvider> {
        let params = RoleParams {
            account_id: account_of_arn(role_arn),
            role_arn: role_arn.to_owned(),
            session_name: self.config.roles.session_name.clone(),
            external_id: self.config.roles.external_id.clone(),
            duration_seconds: self.config.roles.duration_seconds,
        };
        let session = AssumedRole::start(self.factory.sts(None, &self.stats), params).await?;
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
                let via = self.via_session().await?;
                let mut duration_seconds = self.config.roles.duration_seconds;
                if via.is_some() {
                    duration_seconds = duration_seconds.min(CHAINED_SESSION_MAX_SECONDS);
                }
                let params = RoleParams {
                    account_id: account_id.to_owned(),
                    role_arn: self.config.role_arn(account_id),
                    session_name: self.config.roles.session_name.clone(),
                    external_id: self.config.roles.external_id.clone(),
                    duration_seconds,
                };
                let session = AssumedRole::start(self.factory.sts(via, &self.stats), params)
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
    current: Mutex<Session>,
}

/// The credentials handed out, and when their last renewal failed.
#[derive(Debug)]
struct Session {
    credentials: Credentials,
    renewal_failed_at: Option<Instant>,
}

impl AssumedRole {
    async fn start(sts: aws_sdk_sts::Client, params: RoleParams) -> Result<Self> {
        let creds = assume(&sts, &params).await?;
        Ok(AssumedRole {
            sts,
            params,
            current: Mutex::new(Session {
                credentials: creds,
                renewal_failed_at: None,
            }),
        })
    }

    /// How long before expiry a session is renewed: five minutes, or a quarter of the session
    /// for short sessions.
    fn refresh_margin(&self) -> Duration {
        Duration::from_secs(300.min(self.params.duration_seconds.max(4) as u64 / 4))
    }

    /// While a renewal keeps failing, the session in hand is still handed out until half the
    /// margin is left, and renewal is retried at most every tenth of the margin: one STS
    /// hiccup (a throttle, a 5xx, a defective answer) five minutes before expiry must not fail
    /// every call of the account while its session is good for minutes.
    fn still_usable(&self, left: Duration) -> bool {
        left > self.refresh_margin() / 2
    }

    fn renewal_backoff(&self) -> Duration {
        self.refresh_margin() / 10
    }

    async fn load(&self) -> provider::Result {
        let mut session = self.current.lock().await;
        // `None`: no expiry, or already expired (no time left).
        let left = match session.credentials.expiry() {
            None => return Ok(session.credentials.clone()),
            Some(exp) => exp.duration_since(SystemTime::now()).ok(),
        };
        if left.is_some_and(|left| left > self.refresh_margin()) {
            return Ok(session.credentials.clone());
        }
        let usable = left.is_some_and(|left| self.still_usable(left));
        if usable
            && session
                .renewal_failed_at
                .is_some_and(|at| at.elapsed() < self.renewal_backoff())
        {
            return Ok(session.credentials.clone());
        }
        tracing::debug!(account_id = %self.params.account_id, "refreshing role session before expiry");
        match assume(&self.sts, &self.params).await {
            Ok(renewed) => {
                session.credentials = renewed;
                session.renewal_failed_at = None;
                Ok(session.credentials.clone())
            }
            Err(e) if usable => {
                tracing::warn!(
                    account_id = %self.params.account_id,
                    seconds_left = left.map_or(0, |l| l.as_secs()),
                    error = %e,
                    "renewing the role session failed; using the current session while it lasts"
                );
                session.renewal_failed_at = Some(Instant::now());
                Ok(session.credentials.clone())
            }
            Err(e) => Err(CredentialsError::provider_error(e)),
        }
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
    let unusable = |problem: String| Error::NoCredentials {
        account_id: p.account_id.clone(),
        role_arn: p.role_arn.clone(),
        problem,
    };
    let c = out
        .credentials()
        .ok_or_else(|| unusable("the answer holds no Credentials".into()))?;
    let missing: Vec<&str> = [
        ("AccessKeyId", c.access_key_id()),
        ("SecretAccessKey", c.secret_access_key()),
        ("SessionToken", c.session_token()),
    ]
    .into_iter()
    .filter(|(_, v)| v.trim().is_empty())
    .map(|(name, _)| name)
    .collect();
    if !missing.is_empty() {
        return Err(unusable(format!("{} missing or empty", missing.join(", "))));
    }
    // A credential is never handed out past its expiry: an expiry that already passed (a
    // missing Expiration parses as the epoch) or that no clock can hold is refused, never
    // taken as "does not expire".
    let expiration = *c.expiration();
    let expiry = SystemTime::try_from(expiration).map_err(|_| {
        unusable(format!(
            "Expiration {expiration} is not a representable time"
        ))
    })?;
    let now = SystemTime::now();
    if expiry <= now {
        return Err(unusable(format!(
            "Expiration {expiration} has already passed (now {})",
            aws_smithy_types::DateTime::from(now)
        )));
    }
    tracing::debug!(account_id = %p.account_id, role_arn = %p.role_arn, "assumed role");
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        Some(expiry),
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
