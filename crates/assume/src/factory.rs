use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime::client::defaults::default_http_client_plugin_v2;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion as RuntimeBehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use patchlake_config::AwsConfig;

use crate::pacer::{PacedCredentials, PacedHttpClient, Pacer};
use crate::retry::{MalformedOrExpired, OutputCheck};
use crate::stats::{CallStats, StatsInterceptor};

/// The longest backoff between two SSM attempts. The account-region's pacer owns the rate, so
/// backoff only spreads retries: exponential from the base with full jitter up to this, not
/// the 20 s that would idle a worker through most of a throttling storm.
pub const SSM_MAX_BACKOFF: Duration = Duration::from_secs(3);

/// One pacer per (account, region), created on first use.
type PacersByTarget = HashMap<(String, String), Arc<Pacer>>;

/// Builds every AWS client of the pipeline from one base configuration: the starting
/// identity, the home region, retry and timeout policy and, for tests and the simulator, an
/// endpoint override. No other crate constructs an SDK client.
///
/// Clones share the per account-region [`Pacer`]s and the run-wide [`CallStats`].
#[derive(Clone, Debug)]
pub struct ClientFactory {
    base: SdkConfig,
    /// The HTTP client (and so the connection pool) SSM clients share, under their pacers.
    http: Option<SharedHttpClient>,
    pacers: Arc<Mutex<PacersByTarget>>,
    max_calls_per_second: u32,
    run_stats: Arc<CallStats>,
}

impl ClientFactory {
    /// Loads the starting identity from the standard AWS credential chain (env, profile, SSO,
    /// web identity, ECS/Lambda, IMDS), or from `credentials` when given.
    pub async fn new(aws: &AwsConfig, credentials: Option<Credentials>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(aws.home_region.clone()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(aws.max_attempts)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(20)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(aws.attempt_timeout_seconds))
                    .build(),
            );
        if let Some(profile) = &aws.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &aws.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(c) = credentials {
            loader = loader.credentials_provider(c);
        }
        let http = default_http_client_plugin_v2(RuntimeBehaviorVersion::latest()).and_then(|p| {
            p.runtime_components(&RuntimeComponentsBuilder::new("patchlake"))
                .http_client()
        });
        if http.is_none() {
            tracing::warn!("no default HTTP client: SSM calls are not paced");
        }
        ClientFactory {
            base: loader.load().await,
            http,
            pacers: Arc::default(),
            max_calls_per_second: 0,
            run_stats: CallStats::new(),
        }
    }

    /// Caps SSM calls per account-region at `n` per second (`collect.max_calls_per_second`;
    /// 0: no cap, the pace is learned from throttling).
    pub fn with_max_calls_per_second(mut self, n: u32) -> Self {
        self.max_calls_per_second = n;
        self
    }

    /// Calls, retries and throttles of every client this factory (or a clone) built.
    pub fn run_stats(&self) -> &Arc<CallStats> {
        &self.run_stats
    }

    /// The pacer of SSM calls in `account_id`/`region`, shared by every client built for it.
    pub fn pacer(&self, account_id: &str, region: &str) -> Arc<Pacer> {
        let mut pacers = self.pacers.lock().unwrap_or_else(|e| e.into_inner());
        pacers
            .entry((account_id.to_owned(), region.to_owned()))
            .or_insert_with(|| Arc::new(Pacer::new(self.max_calls_per_second)))
            .clone()
    }

    /// The base configuration every client starts from (identity, region, retry, timeouts).
    pub(crate) fn base(&self) -> &SdkConfig {
        &self.base
    }

    /// The region STS and Organizations are called in.
    pub fn home_region(&self) -> &str {
        self.base
            .region()
            .map(|r| r.as_ref())
            .unwrap_or("us-east-1")
    }

    /// An STS client acting as `identity` (the starting identity when `None`).
    pub fn sts(
        &self,
        identity: Option<SharedCredentialsProvider>,
        stats: &Arc<CallStats>,
    ) -> aws_sdk_sts::Client {
        let mut b = aws_sdk_sts::config::Builder::from(&self.base)
            .interceptor(StatsInterceptor(stats.clone()))
            .interceptor(StatsInterceptor(self.run_stats.clone()));
        if let Some(c) = identity {
            b = b.credentials_provider(c);
        }
        aws_sdk_sts::Client::from_conf(b.build())
    }

    /// An SSM client for `region` acting as `identity`, within `account_id`, that takes every
    /// parsed output as whole (see [`ssm_checked`](Self::ssm_checked)).
    pub fn ssm(
        &self,
        account_id: &str,
        region: &str,
        identity: SharedCredentialsProvider,
        stats: &Arc<CallStats>,
    ) -> aws_sdk_ssm::Client {
        self.ssm_checked(account_id, region, identity, stats, |_| false)
    }

    /// An SSM client for `region` acting as `identity`, within `account_id`.
    ///
    /// SSM throttles per account and region, so that is the unit of rate policy: every
    /// attempt (retries included) waits on the account-region's [`Pacer`], which learns the
    /// rate SSM allows from throttling. The wait is part of resolving the attempt's
    /// credentials (the identity cache is off: every attempt resolves them), so the request
    /// is signed after it with a session that is fresh then; the attempt timeout
    /// (`aws.attempt_timeout_seconds`) starts after it too, in the HTTP client.
    ///
    /// Retries are the SDK's standard ones (bounded by `aws.max_attempts`, exponential
    /// backoff) in a retry partition of the account-region with no shared retry quota — with
    /// a process-wide quota, throttling in a few account-regions would exhaust retries for
    /// all of them — plus what [`crate::retry`] adds: garbled 2xx answers, outputs that
    /// `check` calls malformed (re-requested: the same request is the same page), and
    /// expired session tokens.
    pub fn ssm_checked(
        &self,
        account_id: &str,
        region: &str,
        identity: SharedCredentialsProvider,
        stats: &Arc<CallStats>,
        check: OutputCheck,
    ) -> aws_sdk_ssm::Client {
        let retry = self
            .base
            .retry_config()
            .cloned()
            .unwrap_or_else(RetryConfig::standard);
        let partition = RetryPartition::custom(format!("ssm-{account_id}-{region}"))
            .token_bucket(TokenBucket::unlimited())
            .build();
        let attempt_timeout = self
            .base
            .timeout_config()
            .and_then(|t| t.operation_attempt_timeout());
        let pacer = self.pacer(account_id, region);
        let mut b = aws_sdk_ssm::config::Builder::from(&self.base)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(retry.max_attempts())
                    .with_initial_backoff(retry.initial_backoff())
                    .with_max_backoff(retry.max_backoff().min(SSM_MAX_BACKOFF)),
            )
            .retry_partition(partition)
            .retry_classifier(MalformedOrExpired { check })
            .region(Region::new(region.to_owned()))
            .interceptor(StatsInterceptor(stats.clone()))
            .interceptor(StatsInterceptor(self.run_stats.clone()));
        match &self.http {
            Some(inner) => {
                b = b
                    .credentials_provider(PacedCredentials {
                        inner: identity,
                        pacer: pacer.clone(),
                    })
                    .identity_cache(IdentityCache::no_cache())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .disable_operation_attempt_timeout()
                            .build(),
                    )
                    .http_client(PacedHttpClient {
                        inner: inner.clone(),
                        pacer,
                        attempt_timeout,
                    });
            }
            None => b = b.credentials_provider(identity),
        }
        aws_sdk_ssm::Client::from_conf(b.build())
    }

    /// An Account Management client (ListRegions) acting as `identity`, a member-account
    /// session. The API is global; it is called in the home region.
    pub fn account(
        &self,
        identity: SharedCredentialsProvider,
        stats: &Arc<CallStats>,
    ) -> aws_sdk_account::Client {
        let conf = aws_sdk_account::config::Builder::from(&self.base)
            .credentials_provider(identity)
            .interceptor(StatsInterceptor(stats.clone()))
            .build();
        aws_sdk_account::Client::from_conf(conf)
    }

    /// An Organizations client acting as `identity` (the starting identity when `None`).
    pub fn organizations(
        &self,
        identity: Option<SharedCredentialsProvider>,
        stats: &Arc<CallStats>,
    ) -> aws_sdk_organizations::Client {
        let mut b = aws_sdk_organizations::config::Builder::from(&self.base)
            .interceptor(StatsInterceptor(stats.clone()))
            .interceptor(StatsInterceptor(self.run_stats.clone()));
        if let Some(c) = identity {
            b = b.credentials_provider(c);
        }
        aws_sdk_organizations::Client::from_conf(b.build())
    }
}
