use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Counters of the calls made through the clients it is attached to: operations started,
/// HTTP attempts made (retries = attempts − operations) and attempts answered with throttling.
#[derive(Debug, Default)]
pub struct CallStats {
    operations: AtomicU64,
    attempts: AtomicU64,
    throttled: AtomicU64,
}

/// A point-in-time copy of [`CallStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStatsSnapshot {
    /// Logical operations (one per `send()`).
    pub operations: u64,
    /// HTTP attempts, i.e. API calls as the service counts them.
    pub attempts: u64,
    /// Attempts the service answered with a throttling error.
    pub throttled: u64,
}

impl CallStatsSnapshot {
    pub fn retries(&self) -> u64 {
        self.attempts.saturating_sub(self.operations)
    }
}

impl CallStats {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn snapshot(&self) -> CallStatsSnapshot {
        CallStatsSnapshot {
            operations: self.operations.load(Ordering::Relaxed),
            attempts: self.attempts.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }
}

/// The SDK interceptor that feeds a [`CallStats`].
#[derive(Debug, Clone)]
pub(crate) struct StatsInterceptor(pub(crate) Arc<CallStats>);

impl Intercept for StatsInterceptor {
    fn name(&self) -> &'static str {
        "patchlake::CallStats"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.operations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(resp) = context.response() {
            let status = resp.status().as_u16();
            let error_type = resp
                .headers()
                .get("x-amzn-errortype")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let throttled = status == 429
                || (status == 400
                    && (error_type.contains("throttl") || error_type.contains("toomanyrequests")))
                || (status == 503 && error_type.contains("slowdown"));
            if throttled {
                self.0.throttled.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}
