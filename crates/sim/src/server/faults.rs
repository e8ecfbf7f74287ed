//! Runtime-mutable fault injection: denied AssumeRole, denied SSM access, throttling,
//! server errors, latency (constant and spikes), malformed response pages and pagination
//! tokens the service rejects.
//!
//! Random faults are drawn from one seeded stream (the fleet's seed unless
//! [`FaultConfig::seed`] is set): a given seed gives the same sequence of decisions, though
//! which request meets which decision follows the order requests arrive in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// How a malformed SSM response page is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Malformation {
    /// HTTP 200 with a body that is not JSON at all (a proxy's HTML error page).
    InvalidJson,
    /// HTTP 200, correctly framed, with the JSON cut off half-way.
    Truncated,
    /// The connection drops half-way through a body whose Content-Length promised more.
    CutConnection,
    /// Well-formed JSON in which one list item lacks its identifier (`InstanceId`,
    /// `BaselineId`, `KBId`, ...): the response shape a client-side error-correcting
    /// deserializer accepts silently.
    MissingField,
}

impl Malformation {
    pub const ALL: [Malformation; 4] = [
        Malformation::InvalidJson,
        Malformation::Truncated,
        Malformation::CutConnection,
        Malformation::MissingField,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Malformation::InvalidJson => "invalid_json",
            Malformation::Truncated => "truncated",
            Malformation::CutConnection => "cut",
            Malformation::MissingField => "missing_field",
        }
    }
}

impl FromStr for Malformation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Malformation::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!("unknown malformation {s:?} (expected invalid_json, truncated, cut or missing_field)")
            })
    }
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
    /// Probability in [0, 1] that an SSM call is answered ThrottlingException regardless of
    /// the bucket (a throttling storm at a fixed share of calls).
    pub throttle_probability: f64,
    /// Probability in [0, 1] that an SSM or Organizations call fails with HTTP 500.
    pub server_error_probability: f64,
    /// Added before every response.
    pub latency: Duration,
    /// Probability in [0, 1] that a response is delayed by a further [`Self::spike`].
    pub spike_probability: f64,
    pub spike: Duration,
    /// Probability in [0, 1] that a successful SSM response is replaced by a malformed one.
    pub malformed_probability: f64,
    /// The malformations drawn from (uniformly); empty means all of them.
    pub malformations: Vec<Malformation>,
    /// Probability in [0, 1] that an SSM request carrying a NextToken is rejected with
    /// `InvalidNextToken` (the token expired between pages).
    pub bad_token_probability: f64,
    /// At most this many NextTokens are rejected in all (`None`: no limit): `Some(1)` with
    /// probability 1 rejects exactly the first continuation call, a one-shot expiry.
    pub bad_token_limit: Option<u32>,
    /// Seed of the random fault stream; `None`: derived from the fleet's seed.
    pub seed: Option<u64>,
}

impl FaultConfig {
    /// Parses a fault specification, comma separated (the `patchlake sim serve --faults`
    /// syntax):
    ///
    /// `throttle=RATE/BURST`, `throttled=P`, `server_errors=P`, `latency_ms=MS`, `spikes=P@MS`,
    /// `malformed=P`, `malformations=KIND+KIND` (`invalid_json`, `truncated`, `cut`,
    /// `missing_field`), `bad_tokens=P`, `bad_tokens_max=N`, `deny_assume=ACCOUNT`, `deny_ssm=ACCOUNT/REGION`
    /// (both repeatable), `seed=N`. Probabilities are in [0, 1].
    pub fn parse(spec: &str) -> Result<FaultConfig, String> {
        let mut c = FaultConfig::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("fault {item:?}: expected KEY=VALUE"))?;
            let bad = |what: &str| format!("fault {key}={value:?}: {what}");
            let prob = |v: &str| -> Result<f64, String> {
                match v.parse::<f64>() {
                    Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                    _ => Err(bad("expected a probability in [0, 1]")),
                }
            };
            let ms = |v: &str| -> Result<Duration, String> {
                v.parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| bad("expected milliseconds"))
            };
            match key {
                "throttle" => {
                    let (rate, burst) = value
                        .split_once('/')
                        .ok_or_else(|| bad("expected RATE/BURST"))?;
                    c.throttle = Some(Throttle {
                        rate_per_second: rate
                            .parse::<f64>()
                            .ok()
                            .filter(|r| *r >= 0.0)
                            .ok_or_else(|| bad("expected a rate >= 0"))?,
                        burst: burst.parse().map_err(|_| bad("expected a burst size"))?,
                    });
                }
                "server_errors" => c.server_error_probability = prob(value)?,
                "throttled" => c.throttle_probability = prob(value)?,
                "latency_ms" => c.latency = ms(value)?,
                "spikes" => {
                    let (p, d) = value.split_once('@').ok_or_else(|| bad("expected P@MS"))?;
                    c.spike_probability = prob(p)?;
                    c.spike = ms(d)?;
                }
                "malformed" => c.malformed_probability = prob(value)?,
                "malformations" => {
                    c.malformations = value
                        .split('+')
                        .map(str::parse)
                        .collect::<Result<_, String>>()
                        .map_err(|e| bad(&e))?;
                }
                "bad_tokens" => c.bad_token_probability = prob(value)?,
                "bad_tokens_max" => {
                    c.bad_token_limit =
                        Some(value.parse().map_err(|_| bad("expected an integer"))?);
                }
                "deny_assume" => {
                    c.deny_assume_role.insert(value.to_owned());
                }
                "deny_ssm" => {
                    let (a, r) = value
                        .split_once('/')
                        .ok_or_else(|| bad("expected ACCOUNT/REGION"))?;
                    c.deny_ssm.insert((a.to_owned(), r.to_owned()));
                }
                "seed" => c.seed = Some(value.parse().map_err(|_| bad("expected an integer"))?),
                _ => return Err(format!("unknown fault {key:?}")),
            }
        }
        Ok(c)
    }
}

impl fmt::Display for FaultConfig {
    /// The [`FaultConfig::parse`] syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        if let Some(t) = self.throttle {
            items.push(format!("throttle={}/{}", t.rate_per_second, t.burst));
        }
        if self.throttle_probability > 0.0 {
            items.push(format!("throttled={}", self.throttle_probability));
        }
        if self.server_error_probability > 0.0 {
            items.push(format!("server_errors={}", self.server_error_probability));
        }
        if !self.latency.is_zero() {
            items.push(format!("latency_ms={}", self.latency.as_millis()));
        }
        if self.spike_probability > 0.0 {
            items.push(format!(
                "spikes={}@{}",
                self.spike_probability,
                self.spike.as_millis()
            ));
        }
        if self.malformed_probability > 0.0 {
            items.push(format!("malformed={}", self.malformed_probability));
        }
        if !self.malformations.is_empty() {
            let kinds: Vec<&str> = self.malformations.iter().map(|m| m.as_str()).collect();
            items.push(format!("malformations={}", kinds.join("+")));
        }
        if self.bad_token_probability > 0.0 {
            items.push(format!("bad_tokens={}", self.bad_token_probability));
        }
        if let Some(n) = self.bad_token_limit {
            items.push(format!("bad_tokens_max={n}"));
        }
        for a in &self.deny_assume_role {
            items.push(format!("deny_assume={a}"));
        }
        for (a, r) in &self.deny_ssm {
            items.push(format!("deny_ssm={a}/{r}"));
        }
        if let Some(seed) = self.seed {
            items.push(format!("seed={seed}"));
        }
        f.write_str(&items.join(","))
    }
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
    /// NextTokens rejected so far (for [`FaultConfig::bad_token_limit`]).
    bad_tokens: AtomicU64,
}

impl Faults {
    pub(crate) fn new(config: FaultConfig, fleet_seed: u64) -> Self {
        let seed = config.seed.unwrap_or(fleet_seed ^ 0xfa17_5eed);
        Faults {
            config: RwLock::new(config),
            buckets: Mutex::new(BTreeMap::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            bad_tokens: AtomicU64::new(0),
        }
    }

    /// Replaces every setting (buckets restart full; the random stream restarts when
    /// `config.seed` is set).
    pub fn set(&self, config: FaultConfig) {
        if let Some(seed) = config.seed {
            *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = ChaCha8Rng::seed_from_u64(seed);
        }
        self.update(|c| *c = config);
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Restarts the random fault stream from `seed`.
    pub fn set_seed(&self, seed: u64) {
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = ChaCha8Rng::seed_from_u64(seed);
        self.update(|c| c.seed = Some(seed));
    }

    /// Delays a share of responses by `spike` on top of the constant latency.
    pub fn set_latency_spikes(&self, probability: f64, spike: Duration) {
        self.update(|c| {
            c.spike_probability = probability.clamp(0.0, 1.0);
            c.spike = spike;
        });
    }

    /// Breaks a share of successful SSM responses in one of `kinds` (empty: any kind).
    pub fn set_malformed(&self, probability: f64, kinds: &[Malformation]) {
        self.update(|c| {
            c.malformed_probability = probability.clamp(0.0, 1.0);
            c.malformations = kinds.to_vec();
        });
    }

    /// Rejects a share of SSM requests that carry a NextToken with `InvalidNextToken`.
    pub fn set_bad_token_probability(&self, probability: f64) {
        self.update(|c| c.bad_token_probability = probability.clamp(0.0, 1.0));
    }

    fn draw(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_bool(p.min(1.0))
    }

    /// The delay before answering: the constant latency plus, when drawn, a spike.
    pub(crate) fn delay(&self) -> Duration {
        let (latency, p, spike) = {
            let c = self.config.read().unwrap_or_else(|e| e.into_inner());
            (c.latency, c.spike_probability, c.spike)
        };
        if self.draw(p) {
            latency + spike
        } else {
            latency
        }
    }

    /// Draws whether to break this response, and how.
    pub(crate) fn roll_malformed(&self) -> Option<Malformation> {
        let (p, kinds) = {
            let c = self.config.read().unwrap_or_else(|e| e.into_inner());
            if c.malformed_probability <= 0.0 {
                return None;
            }
            (c.malformed_probability, c.malformations.clone())
        };
        if !self.draw(p) {
            return None;
        }
        let kinds: &[Malformation] = if kinds.is_empty() {
            &Malformation::ALL
        } else {
            &kinds
        };
        let i = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_range(0..kinds.len());
        Some(kinds[i])
    }

    /// Draws whether to reject a request's NextToken.
    pub(crate) fn roll_bad_token(&self) -> bool {
        let (p, limit) = {
            let c = self.config.read().unwrap_or_else(|e| e.into_inner());
            (c.bad_token_probability, c.bad_token_limit)
        };
        if !self.draw(p) {
            return false;
        }
        let rejected = self.bad_tokens.fetch_add(1, Ordering::Relaxed);
        limit.is_none_or(|n| rejected < u64::from(n))
    }

    /// A number from the fault stream (which list item loses a field, where a body is cut).
    pub(crate) fn pick(&self, below: usize) -> usize {
        if below <= 1 {
            return 0;
        }
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_range(0..below)
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

    /// Answers a share of calls ThrottlingException whatever the bucket holds.
    pub fn set_throttle_probability(&self, probability: f64) {
        self.update(|c| c.throttle_probability = probability.clamp(0.0, 1.0));
    }

    /// Takes a token from the (account, region) bucket; false means throttled.
    pub(crate) fn try_acquire(&self, account_id: &str, region: &str) -> bool {
        let p = self
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .throttle_probability;
        if self.draw(p) {
            return false;
        }
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
        self.draw(p)
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

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let config = FaultConfig {
            malformed_probability: 0.3,
            bad_token_probability: 0.2,
            seed: Some(9),
            ..FaultConfig::default()
        };
        let draws = |f: &Faults| -> Vec<(Option<Malformation>, bool)> {
            (0..200)
                .map(|_| (f.roll_malformed(), f.roll_bad_token()))
                .collect()
        };
        let a = draws(&Faults::new(config.clone(), 1));
        let b = draws(&Faults::new(config.clone(), 2));
        assert_eq!(a, b, "the explicit seed wins over the fleet's");
        let n = a.iter().filter(|(m, _)| m.is_some()).count();
        assert!((30..90).contains(&n), "{n}");
        let kinds: BTreeSet<_> = a.iter().filter_map(|(m, _)| *m).collect();
        assert_eq!(kinds.len(), 4, "every kind is drawn: {kinds:?}");
        let f = Faults::new(config, 1);
        f.set_seed(10);
        assert_ne!(draws(&f), a);
    }

    #[test]
    fn bad_token_limit_caps_the_rejections() {
        let config = FaultConfig {
            bad_token_probability: 1.0,
            bad_token_limit: Some(2),
            ..FaultConfig::default()
        };
        let f = Faults::new(config, 1);
        let draws: Vec<bool> = (0..5).map(|_| f.roll_bad_token()).collect();
        assert_eq!(draws, [true, true, false, false, false]);
    }

    #[test]
    fn specs_parse_and_print_back() {
        let spec = "throttle=20/5,throttled=0.5,server_errors=0.05,latency_ms=3,spikes=0.1@2000,malformed=0.02,\
                    malformations=truncated+missing_field,bad_tokens=0.5,bad_tokens_max=3,deny_assume=111111111111,\
                    deny_ssm=222222222222/eu-west-1,seed=7";
        let c = FaultConfig::parse(spec).unwrap();
        assert_eq!(
            c.throttle,
            Some(Throttle {
                rate_per_second: 20.0,
                burst: 5
            })
        );
        assert_eq!(c.spike, Duration::from_secs(2));
        assert_eq!(
            c.malformations,
            [Malformation::Truncated, Malformation::MissingField]
        );
        assert!(
            c.deny_ssm
                .contains(&("222222222222".into(), "eu-west-1".into()))
        );
        assert_eq!(FaultConfig::parse(&c.to_string()).unwrap(), c);
        assert_eq!(FaultConfig::parse("").unwrap(), FaultConfig::default());
        for bad in [
            "malformed=2",
            "spikes=0.1",
            "throttle=x/1",
            "nope=1",
            "malformations=garbled",
            "seed",
            "bad_tokens_max=-1",
        ] {
            assert!(FaultConfig::parse(bad).is_err(), "{bad}");
        }
    }
}
