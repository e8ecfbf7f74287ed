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
        if let Some(resp) = context.response()
            && is_throttle(
                resp.status().as_u16(),
                resp.headers().get("x-amzn-errortype"),
            )
        {
            self.0.throttled.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Whether an HTTP response is a throttling answer: 429, a 400 whose `x-amzn-errortype` names
/// throttling (SSM's `ThrottlingException`, `TooManyRequestsException`), or S3's 503 SlowDown.
pub(crate) fn is_throttle(status: u16, error_type: Option<&str>) -> bool {
    let error_type = error_type.unwrap_or_default().to_ascii_lowercase();
    status == 429
        || (status == 400
            && (error_type.contains("throttl") || error_type.contains("toomanyrequests")))
        || (status == 503 && error_type.contains("slowdown"))
}

#[cfg(test)]
mod tests {
    use super::is_throttle;

    #[test]
    fn throttling_answers_are_recognised() {
        assert!(is_throttle(400, Some("ThrottlingException")));
        assert!(is_throttle(
            400,
            Some(
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"
            )
        ));
        assert!(is_throttle(400, Some("TooManyRequestsException")));
        assert!(is_throttle(429, None));
        assert!(is_throttle(503, Some("SlowDown")));
        assert!(!is_throttle(400, Some("ValidationException")));
        assert!(!is_throttle(400, None));
        assert!(!is_throttle(500, Some("InternalServerError")));
        assert!(!is_throttle(200, None));
    }
}
