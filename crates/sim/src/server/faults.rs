//! Runtime-mutable fault injection: denied AssumeRole, denied SSM access, throttling,
//! server errors and latency.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Token bucket applied per (account, region) to SSM calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    /// Tokens added per second; 0 means the bucket never refills.
    pub rate_per_second: f64,
    /// Bucket capacity and initial fill.
    pub burst: u32,
}

/// A snapshot of the fault settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Accounts whose role cannot be assumed (STS AccessDenied).
    pub deny_assume_role: BTreeSet<String>,
    /// (account, region) pairs whose SSM calls fail with AccessDeniedException.
    pub deny_ssm: BTreeSet<(String, String)>,
    /// `None`: unlimited.
    pub throttle: Option<Throttle>,
    /// Probability in [0, 1] that an SSM or Organizations call fails with HTTP 500.
    pub server_error_probability: f64,
    /// Added before every response.
    pub latency: Duration,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Fault settings shared with the running server; every method takes `&self`.
#[derive(Debug)]
pub struct Faults {
    config: RwLock<FaultConfig>,
    buckets: Mutex<BTreeMap<(String, String), Bucket>>,
    rng: Mutex<ChaCha8Rng>,
}

impl Faults {
    pub(crate) fn new(config: FaultConfig, seed: u64) -> Self {
        Faults {
            config: RwLock::new(config),
            buckets: Mutex::new(BTreeMap::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0xfa17_5eed)),
        }
    }

    fn update(&self, f: impl FnOnce(&mut FaultConfig)) {
        let mut config = self.config.write().unwrap_or_else(|e| e.into_inner());
        f(&mut config);
    }

    /// The current settings.
    pub fn config(&self) -> FaultConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Clears every fault.
    pub fn reset(&self) {
        self.update(|c| *c = FaultConfig::default());
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn deny_assume_role(&self, account_id: impl Into<String>) {
        let account_id = account_id.into();
        self.update(|c| {
            c.deny_assume_role.insert(account_id);
        });
    }

    pub fn allow_assume_role(&self, account_id: &str) {
        self.update(|c| {
            c.deny_assume_role.remove(account_id);
        });
    }

    pub fn deny_ssm(&self, account_id: impl Into<String>, region: impl Into<String>) {
        let key = (account_id.into(), region.into());
        self.update(|c| {
            c.deny_ssm.insert(key);
        });
    }

    pub fn allow_ssm(&self, account_id: &str, region: &str) {
        let key = (account_id.to_string(), region.to_string());
        self.update(|c| {
            c.deny_ssm.remove(&key);
        });
    }

    /// Sets (or with `None` removes) the per (account, region) token bucket; buckets restart
    /// full.
    pub fn set_throttle(&self, throttle: Option<Throttle>) {
        self.update(|c| c.throttle = throttle);
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn set_server_error_probability(&self, probability: f64) {
        self.update(|c| c.server_error_probability = probability.clamp(0.0, 1.0));
    }

    pub fn set_latency(&self, latency: Duration) {
        self.update(|c| c.latency = latency);
    }

    pub(crate) fn latency(&self) -> Duration {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .latency
    }

    pub(crate) fn assume_role_denied(&self, account_id: &str) -> bool {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .deny_assume_role
            .contains(account_id)
    }

    pub(crate) fn ssm_denied(&self, account_id: &str, region: &str) -> bool {
        let config = self.config.read().unwrap_or_else(|e| e.into_inner());
        !config.deny_ssm.is_empty()
            && config
                .deny_ssm
                .contains(&(account_id.to_string(), region.to_string()))
    }

    /// Takes a token from the (account, region) bucket; false means throttled.
    pub(crate) fn try_acquire(&self, account_id: &str, region: &str) -> bool {
        let Some(throttle) = self
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .throttle
        else {
            return true;
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry((account_id.to_string(), region.to_string()))
            .or_insert(Bucket {
                tokens: f64::from(throttle.burst),
                last: now,
            });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens =
            (bucket.tokens + elapsed * throttle.rate_per_second).min(f64::from(throttle.burst));
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Draws from the seeded fault stream: true means answer with a server error.
    pub(crate) fn roll_server_error(&self) -> bool {
        let p = self
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .server_error_probability;
        if p <= 0.0 {
            return false;
        }
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_bool(p.min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_without_refill_allows_exactly_burst() {
        let faults = Faults::new(FaultConfig::default(), 1);
        assert!((0..100).all(|_| faults.try_acquire("a", "r")));
        faults.set_throttle(Some(Throttle {
            rate_per_second: 0.0,
            burst: 3,
        }));
        let ok = (0..10).filter(|_| faults.try_acquire("a", "r")).count();
        assert_eq!(ok, 3);
        // Buckets are per (account, region).
        assert!(faults.try_acquire("a", "other"));
        faults.set_throttle(None);
        assert!(faults.try_acquire("a", "r"));
    }

    #[test]
    fn server_errors_follow_the_probability() {
        let faults = Faults::new(FaultConfig::default(), 1);
        assert!(!faults.roll_server_error());
        faults.set_server_error_probability(1.0);
        assert!(faults.roll_server_error());
        faults.set_server_error_probability(0.5);
        let n = (0..1000).filter(|_| faults.roll_server_error()).count();
        assert!((400..600).contains(&n));
    }
}
