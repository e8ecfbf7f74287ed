//! Progress of a collection run: account-regions and accounts done of total, instances,
//! calls per second and throttles.
//!
//! On a terminal (stderr is a tty) an indicatif bar; otherwise a structured `tracing` event
//! (target `patchlake::progress`, level info) every [`LOG_EVERY`]. Counts come from atomic
//! counters fed by the pipeline as targets complete and from the client factory's run-wide
//! [`CallStats`], so reporting never slows collection.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use patchlake_assume::{CallStats, CallStatsSnapshot};
use patchlake_collect::Target;
use patchlake_model::{Coverage, CoverageStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Interval of progress log events when stderr is not a terminal.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// Redraw interval of the terminal bar.
const DRAW_EVERY: Duration = Duration::from_millis(250);

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// An indicatif bar on stderr.
    Bar,
    /// A `tracing` info event every `every`.
    Log { every: Duration },
}

impl Mode {
    /// The bar when stderr is a terminal, else logs every [`LOG_EVERY`].
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Log { every: LOG_EVERY }
        }
    }
}

/// Where a run stands.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressSnapshot {
    pub targets_done: u64,
    pub targets_total: u64,
    pub accounts_done: u64,
    pub accounts_total: u64,
    /// Targets that ended partial or failed.
    pub targets_incomplete: u64,
    pub instances: u64,
    pub calls: CallStatsSnapshot,
    pub elapsed: Duration,
}

impl ProgressSnapshot {
    /// API calls (HTTP attempts) per second since the run started.
    pub fn calls_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.calls.attempts as f64 / secs
        } else {
            0.0
        }
    }

    /// The one-line summary the bar shows after its counters.
    pub fn message(&self, calls_per_second: f64) -> String {
        format!(
            "{}/{} accounts · {} instances · {:.0} calls/s · {} throttled · {} retries{}",
            self.accounts_done,
            self.accounts_total,
            self.instances,
            calls_per_second,
            self.calls.throttled,
            self.calls.retries(),
            if self.targets_incomplete > 0 {
                format!(" · {} incomplete", self.targets_incomplete)
            } else {
                String::new()
            }
        )
    }
}

/// Counters of a run, shared with the reporting task.
#[derive(Debug)]
struct Counters {
    started: Instant,
    targets_total: u64,
    targets_done: AtomicU64,
    targets_incomplete: AtomicU64,
    instances: AtomicU64,
    accounts_total: u64,
    accounts_done: AtomicU64,
    /// Targets still to finish, per account.
    remaining: Mutex<HashMap<String, u64>>,
    calls: Arc<CallStats>,
}

impl Counters {
    fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            targets_done: self.targets_done.load(Ordering::Relaxed),
            targets_total: self.targets_total,
            accounts_done: self.accounts_done.load(Ordering::Relaxed),
            accounts_total: self.accounts_total,
            targets_incomplete: self.targets_incomplete.load(Ordering::Relaxed),
            instances: self.instances.load(Ordering::Relaxed),
            calls: self.calls.snapshot(),
            elapsed: self.started.elapsed(),
        }
    }
}

/// Progress of one run; [`finish`](Progress::finish) it when the last target is done.
#[derive(Debug)]
pub struct Progress {
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    reporter: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts reporting on `targets`, reading call counts from `calls` (the client
    /// factory's run-wide stats).
    pub fn start(targets: &[Target], calls: Arc<CallStats>, mode: Mode) -> Self {
        let mut remaining: HashMap<String, u64> = HashMap::new();
        for t in targets {
            *remaining.entry(t.account_id.clone()).or_default() += 1;
        }
        let counters = Arc::new(Counters {
            started: Instant::now(),
            targets_total: targets.len() as u64,
            targets_done: AtomicU64::new(0),
            targets_incomplete: AtomicU64::new(0),
            instances: AtomicU64::new(0),
            accounts_total: remaining.len() as u64,
            accounts_done: AtomicU64::new(0),
            remaining: Mutex::new(remaining),
            calls,
        });
        let (stop, stopped) = watch::channel(false);
        let reporter = tokio::spawn(report(counters.clone(), mode, stopped));
        Progress {
            counters,
            stop,
            reporter: Some(reporter),
        }
    }

    /// Counts a finished account-region.
    pub fn target_done(&self, coverage: &Coverage) {
        let c = &self.counters;
        c.targets_done.fetch_add(1, Ordering::Relaxed);
        c.instances
            .fetch_add(coverage.instances.max(0) as u64, Ordering::Relaxed);
        if matches!(
            coverage.status,
            CoverageStatus::Partial | CoverageStatus::Failed
        ) {
            c.targets_incomplete.fetch_add(1, Ordering::Relaxed);
        }
        let mut remaining = c.remaining.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = remaining.get_mut(&coverage.account_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                remaining.remove(&coverage.account_id);
                c.accounts_done.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        self.counters.snapshot()
    }

    /// Stops reporting after a last report, and returns where the run ended.
    pub async fn finish(mut self) -> ProgressSnapshot {
        let _ = self.stop.send(true);
        if let Some(r) = self.reporter.take() {
            let _ = r.await;
        }
        self.counters.snapshot()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // A run that fails midway must not leave a bar drawing.
        let _ = self.stop.send(true);
    }
}

async fn report(counters: Arc<Counters>, mode: Mode, mut stopped: watch::Receiver<bool>) {
    let every = match mode {
        Mode::Bar => DRAW_EVERY,
        Mode::Log { every } => every,
    };
    let bar = (mode == Mode::Bar).then(|| {
        let bar = ProgressBar::with_draw_target(
            Some(counters.targets_total),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} account-regions · {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    // Calls per second over the last interval, so a stall shows at once.
    let mut last = (Instant::now(), 0u64);
    loop {
        let done = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = stopped.changed() => true,
        };
        let snap = counters.snapshot();
        let now = Instant::now();
        let dt = now.duration_since(last.0).as_secs_f64();
        let recent = if dt > 0.0 {
            snap.calls.attempts.saturating_sub(last.1) as f64 / dt
        } else {
            0.0
        };
        last = (now, snap.calls.attempts);
        match &bar {
            Some(bar) => {
                bar.set_position(snap.targets_done);
                bar.set_message(snap.message(if done {
                    snap.calls_per_second()
                } else {
                    recent
                }));
                bar.tick();
            }
            // The last event of a run reports its average, not the idle last interval.
            None => log(
                &snap,
                if done {
                    snap.calls_per_second()
                } else {
                    recent
                },
                done,
            ),
        }
        if done || *stopped.borrow() {
            if let Some(bar) = &bar {
                bar.finish();
            }
            return;
        }
    }
}

/// One progress event; `done` marks the last one of the run.
fn log(snap: &ProgressSnapshot, recent_calls_per_second: f64, done: bool) {
    tracing::info!(
        target: "patchlake::progress",
        targets_done = snap.targets_done,
        targets_total = snap.targets_total,
        accounts_done = snap.accounts_done,
        accounts_total = snap.accounts_total,
        targets_incomplete = snap.targets_incomplete,
        instances = snap.instances,
        calls = snap.calls.attempts,
        calls_per_second = (recent_calls_per_second * 10.0).round() / 10.0,
        throttled = snap.calls.throttled,
        retries = snap.calls.retries(),
        elapsed_seconds = snap.elapsed.as_secs(),
        "{}",
        if done { "collection finished" } else { "collecting" }
    );
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use chrono::Utc;

    use super::*;

    fn coverage(account: &str, region: &str, status: CoverageStatus, instances: i64) -> Coverage {
        Coverage {
            account_id: account.into(),
            region: region.into(),
            status,
            error_code: None,
            error_message: None,
            api_calls: 0,
            throttled_calls: 0,
            retries: 0,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            instances,
        }
    }

    fn targets() -> Vec<Target> {
        ["111111111111", "222222222222"]
            .iter()
            .flat_map(|a| ["us-east-1", "eu-west-1"].map(|r| Target::new(*a, r)))
            .collect()
    }

    #[tokio::test]
    async fn counts_targets_accounts_and_instances() {
        // Tests run in parallel and tracing caches per call site whether anyone listens: a
        // subscriber here too keeps the log test's call site from being cached as unused.
        let _guard = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_writer(std::io::sink)
                .with_max_level(tracing::Level::INFO)
                .finish(),
        );
        let p = Progress::start(
            &targets(),
            CallStats::new(),
            Mode::Log {
                every: Duration::from_secs(3600),
            },
        );
        p.target_done(&coverage(
            "111111111111",
            "us-east-1",
            CoverageStatus::Ok,
            10,
        ));
        let s = p.snapshot();
        assert_eq!((s.targets_done, s.targets_total), (1, 4));
        assert_eq!((s.accounts_done, s.accounts_total), (0, 2));
        p.target_done(&coverage(
            "111111111111",
            "eu-west-1",
            CoverageStatus::Failed,
            0,
        ));
        p.target_done(&coverage(
            "222222222222",
            "us-east-1",
            CoverageStatus::Partial,
            5,
        ));
        let s = p.snapshot();
        assert_eq!(
            (s.accounts_done, s.targets_incomplete, s.instances),
            (1, 2, 15)
        );
        p.target_done(&coverage(
            "222222222222",
            "eu-west-1",
            CoverageStatus::Ok,
            7,
        ));
        let s = p.finish().await;
        assert_eq!((s.targets_done, s.accounts_done, s.instances), (4, 2, 22));
        assert!(
            s.message(0.0).contains("2/2 accounts · 22 instances"),
            "{}",
            s.message(0.0)
        );
        assert!(s.message(0.0).contains("2 incomplete"));
    }

    /// A `tracing` writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_terminal_progress_is_logged_as_structured_events() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let p = Progress::start(
            &targets(),
            CallStats::new(),
            Mode::Log {
                every: Duration::from_millis(20),
            },
        );
        p.target_done(&coverage(
            "111111111111",
            "us-east-1",
            CoverageStatus::Ok,
            3,
        ));
        // Paused time: exactly two periodic events (at 20 and 40 ms) before the final one.
        tokio::time::sleep(Duration::from_millis(50)).await;
        p.finish().await;

        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|e: &serde_json::Value| e["target"] == "patchlake::progress")
            .collect();
        assert_eq!(events.len(), 3, "{text}");
        let last = &events[events.len() - 1]["fields"];
        assert_eq!(last["message"], "collection finished");
        assert_eq!(last["targets_done"], 1);
        assert_eq!(last["targets_total"], 4);
        assert_eq!(last["accounts_total"], 2);
        assert_eq!(last["instances"], 3);
        assert_eq!(events[0]["fields"]["message"], "collecting");
    }
}
