//! Rate policy of SSM calls: one [`Pacer`] per account-region, learned from throttling.
//!
//! SSM throttles each account and region with a token bucket whose rate nobody publishes. A
//! pacer spaces the HTTP attempts of its account-region (retries included: it sits in the
//! HTTP client, under the SDK's retry loop) at a rate it learns:
//!
//! - **Unknown ceiling**: no pacing at all until the first throttle (or the configured cap,
//!   `collect.max_calls_per_second`), so an account-region that is never throttled is never
//!   slowed.
//! - **Measure on throttle**: a throttle means the service's bucket is empty. Between two
//!   throttles at least [`MIN_WINDOW`] apart, the calls that succeeded are what the bucket
//!   refilled in between, so `ok / elapsed` measures the service's rate. The pace drops to
//!   [`BACKOFF`] × that estimate; when most attempts of the window did not wait for the pacer,
//!   idle time may have let the bucket fill up and the estimate is low, so the pace drops by
//!   [`MAX_CUT`] at most.
//! - **Oversending**: when most attempts of a window are throttled the bucket is pinned
//!   empty and `(ok + 1) / elapsed` bounds the service's rate from above; the pace is cut to
//!   it at once rather than waiting for the window to close. With a background share learned,
//!   the shortfall of successes must also be beyond chance (two standard deviations of the
//!   binomial), or short runs of background throttles would read as oversending.
//! - **Grow while clean**: while callers are waiting on the pacer (the pace, not the work,
//!   is the limit) the rate grows by [`SLOW_GROWTH`] per second from 90% of the last estimate
//!   up, and by [`FAST_GROWTH`] below that or while the ceiling is unknown.
//! - **Background throttling**: when pacing at the measured rate did not lower the throttle
//!   share, the share is taken to be throttling unrelated to the rate (a storm, a noisy
//!   neighbour) and discounted from later measurements. That belief is self-confirming on a
//!   token bucket (pacing at `rate / (1 − share)` makes exactly that share throttled), so it
//!   is **probed**: [`PROBE_FIRST`] after it is learned, and then at doubling intervals, the
//!   pace drops to [`BACKOFF`] × the successes per second of the last window for
//!   [`PROBE_LEN`]. If the share falls below half, the throttles were the rate's: the
//!   background is dropped and the lower pace kept. Otherwise the pace is restored.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use tokio::time::Instant;

use crate::stats::is_throttle;

/// Share of the measured service rate the pace is set to after a throttle.
pub const BACKOFF: f64 = 0.95;
/// No single measurement lowers the pace below this share of the current pace.
pub const MAX_CUT: f64 = 0.85;
/// Share of the success rate observed before the first throttle that pacing starts at.
pub const FIRST_CUT: f64 = 0.8;
/// Shortest time between two throttles that is trusted as a rate measurement.
pub const MIN_WINDOW: Duration = Duration::from_millis(500);
/// Growth per second of the pace while clean, within the band around the last estimate.
pub const SLOW_GROWTH: f64 = 0.03;
/// Growth per second of the pace while clean, outside that band.
pub const FAST_GROWTH: f64 = 0.5;
/// A throttle share at or above this that pacing lower does not reduce is background
/// throttling, not a rate limit.
pub const RANDOM_SHARE: f64 = 0.1;
/// The largest background throttle share discounted.
const MAX_BACKGROUND: f64 = 0.9;
/// Successes before the first throttle, and attempts in a window, that make a measurement:
/// fewer say nothing about the service's rate (one call throttled at random in a window of
/// two measured a rate of zero and pinned the pace at the floor).
pub const MIN_SAMPLE: u64 = 4;
/// How long after background throttling is learned it is first probed.
pub const PROBE_FIRST: Duration = Duration::from_secs(1);
/// The longest interval between two probes that confirmed the background.
const PROBE_MAX_INTERVAL: Duration = Duration::from_secs(80);
/// How long a probe paces lower before it is judged, and the attempts it needs at least.
pub const PROBE_LEN: Duration = Duration::from_secs(2);
const PROBE_SAMPLE: u64 = 32;
/// A probe still short of [`PROBE_SAMPLE`] attempts after this many [`PROBE_LEN`]s ends
/// without a verdict (at a low pace the sample takes long, and the probe's pace is the
/// lowest of all).
const PROBE_PATIENCE: u32 = 4;
/// Calls per second the pace never goes below.
pub const FLOOR: f64 = 0.5;
/// A caller woken this much (plus one interval) after its slot was stalled, not paced: it
/// takes a new slot rather than joining a burst.
const LATE: Duration = Duration::from_millis(50);
/// A caller that waited on the pacer this recently makes the pace the limit (growth applies).
const LIMITED_FOR: Duration = Duration::from_secs(1);

/// The pace of one account-region's calls (see the module documentation).
#[derive(Debug)]
pub struct Pacer {
    cap: Option<f64>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Calls per second; `None` while the ceiling is unknown and no cap is set.
    rate: Option<f64>,
    /// Earliest start of the next call.
    next: Instant,
    /// Bumped whenever the schedule is reset, so reservations made at an old pace are redone.
    epoch: u64,
    started: Option<Instant>,
    ok_total: u64,
    window: Option<Window>,
    last_grow: Instant,
    limited_at: Option<Instant>,
    estimate: Option<f64>,
    throttles: u64,
    /// Share of attempts the service throttles whatever the pace (learned when pacing at the
    /// measured success rate did not lower the share): discounted from every measurement.
    background: f64,
    /// The last full cut to the measured rate: the window's throttle share and the pace before.
    last_cut: Option<(f64, f64)>,
    /// Successes per second in the last measured window, background included.
    ok_rate: Option<f64>,
    /// The running test of the background share, if any.
    probe: Option<Probe>,
    /// When the background share is next probed, and the interval after that.
    next_probe: Option<(Instant, Duration)>,
}

/// A lowered pace that tests whether the learned background share is about the rate.
#[derive(Debug, Clone, Copy)]
struct Probe {
    start: Instant,
    /// The pace to restore if the share holds.
    before: f64,
    sent: u64,
    throttled: u64,
}

/// Attempts since the throttle that opened the current measurement.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    ok: u64,
    sent: u64,
    /// Attempts that waited for their slot: the pace, not the work, was the limit.
    paced: u64,
    throttled: u64,
    /// The pace when the window opened.
    rate: f64,
}

/// A copy of a pacer's state, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacerSnapshot {
    /// Current pace in calls per second; `None` means unpaced.
    pub rate: Option<f64>,
    /// The last measured service rate, calls per second.
    pub estimate: Option<f64>,
    /// Throttled attempts seen.
    pub throttles: u64,
    /// The share of attempts taken to be throttled whatever the pace.
    pub background: f64,
}

impl Pacer {
    /// A pacer capped at `max_calls_per_second` (0: no cap, unpaced until throttled).
    pub fn new(max_calls_per_second: u32) -> Self {
        let cap = (max_calls_per_second > 0).then_some(f64::from(max_calls_per_second));
        let now = Instant::now();
        Pacer {
            cap,
            state: Mutex::new(State {
                rate: cap,
                next: now,
                epoch: 0,
                started: None,
                ok_total: 0,
                window: None,
                last_grow: now,
                limited_at: None,
                estimate: None,
                throttles: 0,
                background: 0.0,
                last_cut: None,
                ok_rate: None,
                probe: None,
                next_probe: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn snapshot(&self) -> PacerSnapshot {
        let s = self.lock();
        PacerSnapshot {
            rate: s.rate,
            estimate: s.estimate,
            throttles: s.throttles,
            background: s.background,
        }
    }

    /// Waits for this account-region's next call slot. Call once per HTTP attempt.
    pub async fn acquire(&self) {
        let mut waited = false;
        loop {
            let (slot, epoch, rate) = {
                let mut s = self.lock();
                let now = Instant::now();
                s.started.get_or_insert(now);
                let Some(rate) = s.rate else {
                    s.sent();
                    return;
                };
                let slot = s.next.max(now);
                s.next = slot + interval(rate);
                if slot <= now {
                    s.sent();
                    return;
                }
                s.limited_at = Some(now);
                if !waited && let Some(w) = &mut s.window {
                    w.paced += 1;
                }
                waited = true;
                (slot, s.epoch, rate)
            };
            tokio::time::sleep_until(slot).await;
            let mut s = self.lock();
            if s.epoch != epoch {
                // The pace was cut while waiting: the slot was reserved at the old pace.
                continue;
            }
            if Instant::now().saturating_duration_since(slot) > LATE + interval(rate) {
                // Woken late: the process stalled (a loaded host), and every caller whose
                // slot passed meanwhile would go at once, a burst the service's bucket, which
                // refilled only up to its burst size, throttles. Take a fresh slot instead.
                continue;
            }
            s.sent();
            return;
        }
    }

    /// Records the outcome of an attempt that [`acquire`](Self::acquire) let through.
    pub fn record(&self, throttled: bool) {
        let now = Instant::now();
        let mut s = self.lock();
        if let Some(p) = &mut s.probe {
            p.throttled += u64::from(throttled);
        }
        if s.judge_probe(now, self.cap) {
            return;
        }
        if throttled {
            s.throttled(now, self.cap);
        } else {
            s.ok_total += 1;
            if let Some(w) = &mut s.window {
                w.ok += 1;
            }
            s.grow(now, self.cap);
        }
    }
}

/// The HTTP client of one account-region's SSM clients: reports whether each attempt was
/// throttled, and bounds each attempt — from sending the request to the last byte of the
/// answer — by the attempt timeout. The timeout starts here, after the attempt's pacer wait
/// (in [`PacedCredentials`]), so time spent queueing for the account-region's pace never
/// times an attempt out; the body is read here so a stalled or cut body is a connector error,
/// which the SDK retries.
#[derive(Debug, Clone)]
pub(crate) struct PacedHttpClient {
    pub(crate) inner: SharedHttpClient,
    pub(crate) pacer: Arc<Pacer>,
    pub(crate) attempt_timeout: Option<Duration>,
}

impl HttpClient for PacedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
            attempt_timeout: self.attempt_timeout,
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
    attempt_timeout: Option<Duration>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, pacer, limit) = (self.inner.clone(), self.pacer.clone(), self.attempt_timeout);
        HttpConnectorFuture::new(async move {
            let attempt = async {
                let mut response = inner.call(request).await?;
                pacer.record(is_throttle(
                    response.status().as_u16(),
                    response.headers().get("x-amzn-errortype"),
                ));
                let body = ByteStream::new(response.take_body())
                    .collect()
                    .await
                    .map_err(|e| ConnectorError::io(e.into()))?;
                *response.body_mut() = SdkBody::from(body.into_bytes());
                Ok(response)
            };
            match limit {
                Some(limit) => tokio::time::timeout(limit, attempt)
                    .await
                    .unwrap_or_else(|_| {
                        Err(ConnectorError::timeout(
                            format!("no complete answer within the attempt timeout of {limit:?}")
                                .into(),
                        ))
                    }),
                None => attempt.await,
            }
        })
    }
}

/// The credentials of one account-region's SSM clients: resolving them (once per attempt,
/// the SDK's identity cache is off for these clients) first waits for the account-region's
/// [`Pacer`] slot, so the request is signed with credentials fetched after the wait — a
/// session cannot lapse while the attempt queues.
#[derive(Debug)]
pub(crate) struct PacedCredentials {
    pub(crate) inner: SharedCredentialsProvider,
    pub(crate) pacer: Arc<Pacer>,
}

impl ProvideCredentials for PacedCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.pacer.acquire().await;
            self.inner.provide_credentials().await
        })
    }
}

fn interval(rate: f64) -> Duration {
    Duration::from_secs_f64(1.0 / rate)
}

/// How far the throttled count of `attempts` may stray from a background share's expectation
/// by chance: two standard deviations of the binomial, plus one.
fn chance(attempts: f64, background: f64) -> f64 {
    2.0 * (background * (1.0 - background) * attempts).sqrt() + 1.0
}

fn clamp(rate: f64, cap: Option<f64>) -> f64 {
    let r = rate.max(FLOOR);
    cap.map_or(r, |c| r.min(c))
}

impl State {
    fn sent(&mut self) {
        if let Some(w) = &mut self.window {
            w.sent += 1;
        }
        if let Some(p) = &mut self.probe {
            p.sent += 1;
        }
    }

    /// Paces at `rate` from `now` on: slots reserved at the old pace are redone.
    fn set_pace(&mut self, now: Instant, rate: f64) {
        self.rate = Some(rate);
        self.epoch += 1;
        self.next = now + interval(rate);
        self.last_grow = now;
    }

    /// Paces at `rate` from `now` on, in a fresh measurement window.
    fn reset(&mut self, now: Instant, rate: f64) {
        self.window = Some(Window {
            start: now,
            ok: 0,
            sent: 0,
            paced: 0,
            throttled: 0,
            rate,
        });
        self.set_pace(now, rate);
    }

    /// Judges a probe that has run long enough (see the module documentation); true when it
    /// ended, the pace being set for what it showed.
    fn judge_probe(&mut self, now: Instant, cap: Option<f64>) -> bool {
        let Some(p) = self.probe else { return false };
        let ran = now.saturating_duration_since(p.start);
        let long = ran >= PROBE_LEN * PROBE_PATIENCE;
        if ran < PROBE_LEN || (p.sent < PROBE_SAMPLE && !long) {
            return false;
        }
        self.probe = None;
        let probed = self.rate.unwrap_or(p.before);
        let restored = clamp(p.before.max(probed), cap);
        let share = p.throttled as f64 / p.sent as f64;
        let rate = if p.sent < PROBE_SAMPLE {
            // Too few attempts at the probe's pace to judge (a few attempts are all throttled
            // or all not by chance): restore the pace, keep the share, probe again later.
            self.next_probe = self.next_probe.map(|(_, every)| (now + every, every));
            restored
        } else if share < 0.5 * self.background {
            // Fewer throttles at a lower pace: they were the rate's. Keep the lower pace.
            tracing::debug!(target: "patchlake::pacer", share, background = self.background, probed, "probe: not background");
            self.background = 0.0;
            self.last_cut = None;
            self.next_probe = None;
            self.estimate = Some(probed / BACKOFF);
            probed
        } else {
            tracing::debug!(target: "patchlake::pacer", share, background = self.background, restored = p.before, "probe: background confirmed");
            self.background = 0.5 * (self.background + share.min(MAX_BACKGROUND));
            let every = self
                .next_probe
                .map_or(PROBE_FIRST, |(_, every)| every)
                .saturating_mul(2)
                .min(PROBE_MAX_INTERVAL);
            self.next_probe = Some((now + every, every));
            restored
        };
        self.reset(now, rate);
        true
    }

    fn grow(&mut self, now: Instant, cap: Option<f64>) {
        let dt = now.saturating_duration_since(self.last_grow).as_secs_f64();
        self.last_grow = now;
        let Some(rate) = self.rate else { return };
        let limited = self
            .limited_at
            .is_some_and(|t| now.saturating_duration_since(t) < LIMITED_FOR);
        if !limited {
            return;
        }
        // Fast only while the ceiling is unknown or far above the pace; at or above the last
        // estimate, probing is slow so that it costs few throttles.
        let growth = match self.estimate {
            Some(e) if rate >= 0.9 * e => SLOW_GROWTH,
            _ => FAST_GROWTH,
        };
        self.rate = Some(clamp(rate * (1.0 + growth * dt), cap));
    }

    fn throttled(&mut self, now: Instant, cap: Option<f64>) {
        self.throttles += 1;
        if let Some(w) = &mut self.window {
            w.throttled += 1;
        }
        if self.probe.is_some() {
            // The probe's pace holds until it is judged.
            return;
        }
        let started = *self.started.get_or_insert(now);
        if self.rate.is_none() && self.ok_total < MIN_SAMPLE {
            // Too few successes to measure anything (the very first call may be throttled at
            // random): pacing from this would start at the floor.
            return;
        }
        let (rate, close_window) = match (self.rate, self.window) {
            (None, _) => {
                let elapsed = now.duration_since(started).as_secs_f64().max(1e-3);
                (FIRST_CUT * self.ok_total as f64 / elapsed, true)
            }
            (Some(rate), None) => (FIRST_CUT * rate, true),
            (Some(rate), Some(w)) => {
                let d = now.duration_since(w.start);
                let secs = d.as_secs_f64().max(1e-3);
                // What the service lets through, with its background throttling discounted.
                let kept = 1.0 - self.background;
                let mut r = rate;
                // Oversending: far fewer successes than the attempts would bring, beyond what
                // chance makes of background throttling (none without background, so a
                // bucket's signal is as before).
                let expected = w.sent as f64 * kept;
                if expected >= 2.0 * (w.ok as f64 + 1.0)
                    && expected - w.ok as f64 > chance(w.sent as f64, self.background)
                {
                    r = r.min((w.ok as f64 + 1.0) / secs / kept);
                }
                if d >= MIN_WINDOW && w.sent >= MIN_SAMPLE {
                    self.ok_rate = Some(w.ok as f64 / secs);
                    let est = w.ok as f64 / secs / kept;
                    let sent = w.sent.max(1) as f64;
                    let share = w.throttled as f64 / sent;
                    let previous = self.estimate;
                    self.estimate = Some(est);
                    if let Some((cut_share, before)) = self.last_cut.take()
                        && previous.is_some_and(|p| w.rate <= p.max(FLOOR))
                        && share >= RANDOM_SHARE
                        && share >= 0.8 * cut_share
                    {
                        // Pacing at the measured success rate did not make the service
                        // throttle less: these throttles are not about the rate. Undo the cut
                        // and discount that share from now on (until a probe says otherwise).
                        self.background = share.min(MAX_BACKGROUND);
                        r = before.max(r);
                        self.next_probe = Some((now + PROBE_FIRST, PROBE_FIRST));
                    } else {
                        let b = self.background;
                        let excess = w.throttled as f64 - b * sent;
                        if b > 0.0 {
                            self.background = 0.5 * (b + share.min(MAX_BACKGROUND));
                        }
                        // With background throttling, only throttles beyond it signal the rate.
                        let rate_signal = b == 0.0 || excess > chance(sent, b);
                        if rate_signal && 2 * w.paced >= w.sent {
                            // Mostly paced: the service's bucket never filled up, the
                            // estimate holds.
                            r = BACKOFF * est;
                            if r < 0.9 * w.rate {
                                self.last_cut = Some((share, w.rate));
                            }
                        } else if rate_signal {
                            // Idle time in the window makes the estimate low; cut gently.
                            r = (BACKOFF * est).max(MAX_CUT * r);
                        }
                    }
                    (r, true)
                } else {
                    (r, false)
                }
            }
        };
        tracing::debug!(
            target: "patchlake::pacer",
            before = ?self.rate,
            after = clamp(rate, cap),
            estimate = ?self.estimate,
            background = self.background,
            window = ?self.window,
            close_window,
            "throttled"
        );
        let mut rate = clamp(rate, cap);
        if close_window && self.background > 0.0 && self.next_probe.is_some_and(|(at, _)| now >= at)
        {
            self.probe = Some(Probe {
                start: now,
                before: rate,
                sent: 0,
                throttled: 0,
            });
            // Just below the successes per second actually seen: on a token bucket that is its
            // rate, so the throttles stop; with background throttling they go on.
            let seen = self.ok_rate.unwrap_or((1.0 - self.background) * rate);
            rate = clamp(BACKOFF * seen.min(rate), cap);
        }
        if close_window {
            self.reset(now, rate);
        } else {
            self.set_pace(now, rate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The simulator's throttle: a token bucket of `rate` per second and `burst` capacity.
    struct Bucket {
        rate: f64,
        burst: f64,
        tokens: f64,
        last: Instant,
        /// Throttles every n-th call whatever the rate (random throttling's stand-in).
        every: Option<u64>,
        /// Throttles this share of calls at random (seeded) whatever the rate.
        random: f64,
        seed: u64,
        calls: u64,
    }

    impl Bucket {
        fn new(rate: f64, burst: f64) -> Self {
            Bucket {
                rate,
                burst,
                tokens: burst,
                last: Instant::now(),
                every: None,
                random: 0.0,
                seed: 101,
                calls: 0,
            }
        }

        fn try_take(&mut self) -> bool {
            self.calls += 1;
            if self.every.is_some_and(|n| self.calls.is_multiple_of(n)) {
                return false;
            }
            if self.random > 0.0 && draw(&mut self.seed) < self.random {
                return false;
            }
            let now = Instant::now();
            self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate)
                .min(self.burst);
            self.last = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                true
            } else {
                false
            }
        }
    }

    #[derive(Default, Debug)]
    struct Outcome {
        ok: u64,
        throttled: u64,
    }

    /// How a modelled caller waits: on the way to the server, on the way back, and after its
    /// `failures`-th throttle in a row.
    trait Caller: Send + 'static {
        fn to_server(&mut self) -> Duration;
        fn back(&mut self) -> Duration;
        fn backoff(&mut self, failures: u32) -> Duration;
    }

    /// `workers` callers (`caller(w)` models the `w`-th), each making attempts one at a time
    /// through `pacer` for `secs` against a bucket.
    async fn drive_with<C: Caller>(
        pacer: Arc<Pacer>,
        bucket: Arc<Mutex<Bucket>>,
        workers: usize,
        secs: u64,
        caller: impl Fn(usize) -> C,
    ) -> Outcome {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut handles = Vec::new();
        for w in 0..workers {
            let (pacer, bucket) = (pacer.clone(), bucket.clone());
            let mut caller = caller(w);
            handles.push(tokio::spawn(async move {
                let mut out = Outcome::default();
                let mut failures = 0u32;
                while Instant::now() < end {
                    pacer.acquire().await;
                    tokio::time::sleep(caller.to_server()).await;
                    let ok = bucket.lock().unwrap().try_take();
                    tokio::time::sleep(caller.back()).await;
                    pacer.record(!ok);
                    if ok {
                        out.ok += 1;
                        failures = 0;
                    } else {
                        out.throttled += 1;
                        failures += 1;
                        tokio::time::sleep(caller.backoff(failures)).await;
                    }
                }
                out
            }));
        }
        total(handles).await
    }

    /// A metronome caller: `latency` each way and a deterministic stand-in for the SDK's
    /// 100 ms-base exponential backoff, staggered by worker.
    struct Steady {
        latency: Duration,
        worker: u64,
    }

    impl Caller for Steady {
        fn to_server(&mut self) -> Duration {
            self.latency
        }
        fn back(&mut self) -> Duration {
            self.latency
        }
        fn backoff(&mut self, failures: u32) -> Duration {
            Duration::from_millis((100u64 << failures.min(4)) * (1 + self.worker % 3) / 4)
        }
    }

    /// `workers` [`Steady`] callers with `latency` each way.
    async fn drive(
        pacer: Arc<Pacer>,
        bucket: Arc<Mutex<Bucket>>,
        workers: usize,
        latency: Duration,
        secs: u64,
    ) -> Outcome {
        drive_with(pacer, bucket, workers, secs, |w| Steady {
            latency,
            worker: w as u64,
        })
        .await
    }

    /// The callers' outcomes summed.
    async fn total(handles: Vec<tokio::task::JoinHandle<Outcome>>) -> Outcome {
        let mut total = Outcome::default();
        for h in handles {
            let o = h.await.unwrap();
            total.ok += o.ok;
            total.throttled += o.throttled;
        }
        total
    }

    /// xorshift64 step: deterministic draws in [0, 1) without a dependency.
    fn draw(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A caller on a busy host rather than a metronome: each attempt's latency is drawn
    /// (seeded) from 1–20 ms each way, 1 % of attempts stall for 100–500 ms on the way out (a
    /// loaded machine), and the backoff is jittered like the SDK's (a random share of the
    /// exponential step).
    struct Jittered {
        rng: u64,
    }

    impl Caller for Jittered {
        fn to_server(&mut self) -> Duration {
            let mut one_way = 1.0 + 19.0 * draw(&mut self.rng);
            if draw(&mut self.rng) < 0.01 {
                one_way += 100.0 + 400.0 * draw(&mut self.rng);
            }
            Duration::from_secs_f64(one_way / 1000.0)
        }
        fn back(&mut self) -> Duration {
            Duration::from_secs_f64((1.0 + 19.0 * draw(&mut self.rng)) / 1000.0)
        }
        fn backoff(&mut self, failures: u32) -> Duration {
            let step = (100u64 << failures.min(5)).min(3000) as f64;
            Duration::from_secs_f64(step * draw(&mut self.rng) / 1000.0)
        }
    }

    /// `workers` [`Jittered`] callers, seeded from `seed`.
    async fn drive_jittered(
        pacer: Arc<Pacer>,
        bucket: Arc<Mutex<Bucket>>,
        workers: usize,
        secs: u64,
        seed: u64,
    ) -> Outcome {
        drive_with(pacer, bucket, workers, secs, |w| Jittered {
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (w as u64 + 1) << 32 | 1,
        })
        .await
    }

    /// A token bucket met by jittered callers, over many seeds: no seed may lose control of
    /// the pace. (In a release bench of 200 account-regions, one sent 7,458 attempts for
    /// about 3,900 calls, 46 % throttled, and two calls ran out of retries.)
    #[tokio::test(start_paused = true)]
    async fn a_token_bucket_under_jitter_stays_paced_for_every_seed() {
        let mut worst = (0.0, 0);
        for seed in 0..60u64 {
            let pacer = Arc::new(Pacer::new(0));
            let bucket = Arc::new(Mutex::new(Bucket::new(40.0, 20.0)));
            let secs = 100;
            let o = drive_jittered(pacer.clone(), bucket, 16, secs, seed).await;
            let waste = o.throttled as f64 / o.ok.max(1) as f64;
            let achieved = o.ok as f64 / (20.0 + 40.0 * secs as f64);
            eprintln!(
                "seed {seed}: {o:?} waste {waste:.3} achieved {achieved:.3} {:?}",
                pacer.snapshot()
            );
            if waste > worst.0 {
                worst = (waste, seed);
            }
        }
        eprintln!("worst: {worst:?}");
        assert!(
            worst.0 <= 0.05,
            "worst seed {}: {:.3} throttled per success",
            worst.1,
            worst.0
        );
    }

    /// A token bucket met by jittered callers on a host that stalls: every 0–6 s the whole
    /// process stops for 0.1–1.1 s (the clock jumps, so the bucket refills, but only up to its
    /// burst). Before this model, 38 of 120 runs ended with a throttled share learned as
    /// background and up to 0.36 throttled per success: callers whose slots passed during a
    /// stall went at once, the burst was throttled whatever the pace, and the background share
    /// then sustained itself (finding 10 in RELIABILITY.md).
    #[tokio::test(start_paused = true)]
    async fn a_token_bucket_on_a_stalling_host_stays_paced() {
        let mut wastes = Vec::new();
        for seed in 0..40u64 {
            for workers in [8usize, 24, 40] {
                let pacer = Arc::new(Pacer::new(0));
                let bucket = Arc::new(Mutex::new(Bucket::new(40.0, 20.0)));
                let secs = 100;
                let stalls = tokio::spawn(async move {
                    let mut rng = (seed ^ 0xDEAD_BEEF) | 1;
                    loop {
                        let every = Duration::from_secs_f64(6.0 * draw(&mut rng));
                        tokio::time::sleep(every).await;
                        let stall = Duration::from_secs_f64(0.1 + draw(&mut rng));
                        tokio::time::advance(stall).await;
                    }
                });
                let o = drive_jittered(pacer.clone(), bucket, workers, secs, seed).await;
                stalls.abort();
                let waste = o.throttled as f64 / o.ok.max(1) as f64;
                wastes.push((waste, seed, workers, pacer.snapshot()));
            }
        }
        wastes.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mean = wastes.iter().map(|w| w.0).sum::<f64>() / wastes.len() as f64;
        eprintln!("mean {mean:.4}, worst {:?}", &wastes[..3]);
        assert!(mean <= 0.03, "mean {mean:.4} throttled per success");
        assert!(
            wastes[0].0 <= 0.15,
            "seed {} with {} callers: {:.3} throttled per success, {:?}",
            wastes[0].1,
            wastes[0].2,
            wastes[0].0,
            wastes[0].3
        );
    }

    #[tokio::test(start_paused = true)]
    async fn unthrottled_calls_are_never_paced() {
        let pacer = Pacer::new(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            pacer.acquire().await;
            pacer.record(false);
        }
        assert_eq!(Instant::now(), t0, "no call waited");
        assert_eq!(pacer.snapshot().rate, None);
    }

    #[tokio::test(start_paused = true)]
    async fn cap_spaces_calls_evenly() {
        let pacer = Pacer::new(10);
        let t0 = Instant::now();
        for _ in 0..11 {
            pacer.acquire().await;
            pacer.record(false);
        }
        // 11 calls at 10/s: the first at once, then one every 100 ms.
        assert_eq!(Instant::now() - t0, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn cap_is_never_exceeded_by_growth() {
        let pacer = Pacer::new(10);
        for _ in 0..200 {
            pacer.acquire().await;
            pacer.record(false);
        }
        assert_eq!(pacer.snapshot().rate, Some(10.0));
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_between_windows_measures_the_service_rate() {
        let pacer = Pacer::new(100);
        // The first throttle opens the window and cuts to FIRST_CUT of the cap.
        pacer.acquire().await;
        pacer.record(true);
        assert_eq!(pacer.snapshot().rate, Some(80.0));
        let t0 = Instant::now();
        // 40 attempts back to back, each waiting for its slot at 80/s; 20 succeed.
        for _ in 0..40 {
            pacer.acquire().await;
        }
        for _ in 0..20 {
            pacer.record(false);
        }
        tokio::time::sleep_until(t0 + Duration::from_millis(500)).await;
        pacer.record(true);
        let s = pacer.snapshot();
        // 20 ok in 0.5 s between two throttles: the service does 40/s.
        assert_eq!(s.estimate, Some(40.0));
        assert_eq!(s.rate, Some(BACKOFF * 40.0));
        assert_eq!(s.throttles, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_with_idle_time_cuts_gently() {
        let pacer = Pacer::new(100);
        pacer.acquire().await;
        pacer.record(true); // 80/s
        // 40 attempts 25 ms apart, slower than the pace: none waited, the service's bucket
        // may have filled up, so 40 ok in a second underestimates it.
        for _ in 0..40 {
            tokio::time::advance(Duration::from_millis(25)).await;
            pacer.acquire().await;
            pacer.record(false);
        }
        pacer.record(true);
        let s = pacer.snapshot();
        assert_eq!(s.estimate, Some(40.0));
        assert_eq!(s.rate, Some(MAX_CUT * 80.0));
    }

    #[tokio::test(start_paused = true)]
    async fn oversending_is_cut_to_the_upper_bound_at_once() {
        let pacer = Pacer::new(1000);
        pacer.acquire().await;
        pacer.record(true); // the window opens; pace 800/s
        let t0 = Instant::now();
        // 30 attempts go out, 3 succeed; 100 ms after the first throttle, another one.
        for _ in 0..30 {
            pacer.acquire().await;
        }
        for _ in 0..3 {
            pacer.record(false);
        }
        tokio::time::sleep_until(t0 + Duration::from_millis(100)).await;
        pacer.record(true);
        let rate = pacer.snapshot().rate.unwrap();
        // The bucket stayed empty: at most (3 ok + 1) / 0.1 s = 40/s.
        assert!((rate - 40.0).abs() < 1e-6, "{rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn first_throttle_without_cap_starts_pacing_below_the_observed_rate() {
        let pacer = Pacer::new(0);
        for _ in 0..50 {
            pacer.acquire().await;
            tokio::time::advance(Duration::from_millis(10)).await;
            pacer.record(false);
        }
        pacer.acquire().await;
        pacer.record(true);
        // 50 ok in 0.5 s = 100/s observed; 80% of it.
        let rate = pacer.snapshot().rate.unwrap();
        assert!((rate - 80.0).abs() < 1e-6, "{rate}");
    }

    /// Half the calls throttled whatever the pace: the pace must not sink to the floor (it
    /// did: every window measured half the pace as the service's rate).
    #[tokio::test(start_paused = true)]
    async fn throttling_unrelated_to_the_rate_does_not_sink_the_pace() {
        let pacer = Arc::new(Pacer::new(0));
        let mut bucket = Bucket::new(1e6, 1e6);
        bucket.every = Some(2);
        let bucket = Arc::new(Mutex::new(bucket));
        let o = drive(pacer.clone(), bucket, 8, Duration::from_millis(1), 60).await;
        let s = pacer.snapshot();
        eprintln!("random 50%: {o:?}, {s:?}");
        // Unpaced, 8 workers with this backoff make about 80 successful calls a second.
        assert!(o.ok >= 60 * 40, "{o:?}, {s:?}");
        assert!(s.rate.is_some_and(|r| r >= 20.0), "{o:?}, {s:?}");
    }

    /// Half the calls throttled at random from the first call on, with the collector's
    /// concurrency and the SDK's backoff: the pace stays near what the callers send. It sank
    /// to the floor of 0.5/s when the first call was throttled (a collection never finished),
    /// then drifted to 3–12/s (932 / 1,643 / 287 ok in the minute for these seeds) because a
    /// short window's run of random throttles read as oversending; oversending now has to be
    /// beyond two standard deviations of the background's binomial (3,572 / 3,596 / 1,297).
    #[tokio::test(start_paused = true)]
    async fn random_throttling_from_the_first_call_does_not_pin_the_pace_to_the_floor() {
        for seed in [101, 7, 12345] {
            let pacer = Arc::new(Pacer::new(0));
            let mut bucket = Bucket::new(1e6, 1e6);
            bucket.random = 0.5;
            bucket.seed = seed;
            let bucket = Arc::new(Mutex::new(bucket));
            let watch = pacer.clone();
            let monitor = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    eprintln!("  {:?}", watch.snapshot());
                }
            });
            let o = drive(pacer.clone(), bucket, 16, Duration::from_millis(5), 60).await;
            monitor.abort();
            let s = pacer.snapshot();
            eprintln!("random 50% (seed {seed}): {o:?}, {s:?}");
            // Pinned at the floor: 30 in the minute; drifting, 287 for one seed. Unpaced, 16
            // workers with this backoff make over 100 a second.
            assert!(o.ok >= 60 * 15, "seed {seed}: {o:?}, {s:?}");
            assert!(s.rate.is_none_or(|r| r >= 2.0), "seed {seed}: {o:?}, {s:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sustains_the_ceiling_with_few_throttles() {
        for (rate, burst, workers) in [(40.0, 20.0, 8), (10.0, 5.0, 4), (200.0, 50.0, 16)] {
            let pacer = Arc::new(Pacer::new(0));
            let bucket = Arc::new(Mutex::new(Bucket::new(rate, burst)));
            let secs = 60;
            let o = drive(
                pacer.clone(),
                bucket,
                workers,
                Duration::from_millis(1),
                secs,
            )
            .await;
            let ceiling = burst + rate * secs as f64;
            let achieved = o.ok as f64 / ceiling;
            let waste = o.throttled as f64 / o.ok as f64;
            assert!(
                achieved >= 0.93,
                "rate {rate}: achieved {achieved:.3} of the ceiling ({o:?}, {:?})",
                pacer.snapshot()
            );
            assert!(
                waste <= 0.03,
                "rate {rate}: {waste:.3} throttled per success ({o:?}, {:?})",
                pacer.snapshot()
            );
        }
    }
}
