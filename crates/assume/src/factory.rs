use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use patchlake_config::AwsConfig;

use crate::stats::{CallStats, StatsInterceptor};

/// Builds every AWS client of the pipeline from one base configuration: the starting
/// identity, the home region, retry and timeout policy and, for tests and the simulator, an
/// endpoint override. No other crate constructs an SDK client.
#[derive(Clone, Debug)]
pub struct ClientFactory {
    base: SdkConfig,
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
        ClientFactory {
            base: loader.load().await,
        }
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
            .interceptor(StatsInterceptor(stats.clone()));
        if let Some(c) = identity {
            b = b.credentials_provider(c);
        }
        aws_sdk_sts::Client::from_conf(b.build())
    }

    /// An SSM client for `region` acting as `identity`, within `account_id`.
    ///
    /// SSM throttles per account and region, so that is the unit of rate policy: each
    /// account-region gets its own retry partition, with the SDK's adaptive client-side
    /// rate limiter (backs off on throttling, grows back when calls succeed) and no shared
    /// retry quota — with a process-wide quota, throttling in a few account-regions would
    /// exhaust retries for all of them. Attempts stay bounded by `aws.max_attempts`.
    pub fn ssm(
        &self,
        account_id: &str,
        region: &str,
        identity: SharedCredentialsProvider,
        stats: &Arc<CallStats>,
    ) -> aws_sdk_ssm::Client {
        let retry = self
            .base
            .retry_config()
            .cloned()
            .unwrap_or_else(RetryConfig::standard);
        let partition = RetryPartition::custom(format!("ssm-{account_id}-{region}"))
            .token_bucket(TokenBucket::unlimited())
            .build();
        let conf = aws_sdk_ssm::config::Builder::from(&self.base)
            .retry_config(
                RetryConfig::adaptive()
                    .with_max_attempts(retry.max_attempts())
                    .with_initial_backoff(retry.initial_backoff())
                    .with_max_backoff(retry.max_backoff()),
            )
            .retry_partition(partition)
            .region(Region::new(region.to_owned()))
            .credentials_provider(identity)
            .interceptor(StatsInterceptor(stats.clone()))
            .build();
        aws_sdk_ssm::Client::from_conf(conf)
    }

    /// An Organizations client acting as `identity` (the starting identity when `None`).
    pub fn organizations(
        &self,
        identity: Option<SharedCredentialsProvider>,
        stats: &Arc<CallStats>,
    ) -> aws_sdk_organizations::Client {
        let mut b = aws_sdk_organizations::config::Builder::from(&self.base)
            .interceptor(StatsInterceptor(stats.clone()));
        if let Some(c) = identity {
            b = b.credentials_provider(c);
        }
        aws_sdk_organizations::Client::from_conf(b.build())
    }
}
