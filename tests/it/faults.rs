//! The fault matrix: full collections (the CLI's `collect_run`, real SDK clients) from the
//! simulator into an S3 lake on moto behind the fault proxy, under each injected fault and
//! some combinations, checked row by row against the simulator's own data.
//!
//! For every case: each row the simulator holds for an account-region whose coverage is `ok`
//! is in the committed run exactly once (multiset equality per table, keyed by the table's
//! identity columns); an account-region that is not `ok` has a classified error code and a
//! message naming the SSM/STS call, never extra rows, and the run reports itself partial.
//! Unreachable account-regions (AccessDenied) are `failed` with the service's code.
//!
//! Seeded and small in CI; `PATCHLAKE_FAULT_SCALE=N` multiplies the fleet (instances per
//! region) for a longer run on demand.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use patchlake::demo::simulator_credentials;
use patchlake::pipeline::{RunSummary, collect_run, open_lake_with};
use patchlake_assume::ClientFactory;
use patchlake_config::Config;
use patchlake_model::CoverageStatus;
use patchlake_query::{AsOf, LakeQuery, ReportParams};
use patchlake_sim::{FaultConfig, Fleet, FleetSpec, Malformation, SimOptions, Throttle};
use patchlake_testkit::s3_proxy::{S3Faults, S3Proxy};

use crate::harness;
use crate::moto::{BUCKET, MOTO_ACCOUNT, Moto, skipped};

/// `PATCHLAKE_FAULT_SCALE` (default 1): multiplies instances per region.
pub fn scale() -> usize {
    std::env::var("PATCHLAKE_FAULT_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1)
}

/// Table → row identity → how many times it occurs.
pub type Rows = BTreeMap<&'static str, BTreeMap<String, u32>>;

fn add(rows: &mut Rows, table: &'static str, key: String) {
    *rows.entry(table).or_default().entry(key).or_default() += 1;
}

/// The rows a complete collection of the account-regions `include` accepts must produce,
/// computed from the fleet itself.
pub fn expected_rows(fleet: &Fleet, include: impl Fn(&str, &str) -> bool) -> Rows {
    let mut rows = Rows::new();
    for ar in fleet.account_regions() {
        let (a, r) = (&ar.account_id, &ar.region);
        if !fleet.region_enabled(a, r) || !include(a, r) {
            continue;
        }
        for b in &ar.baselines {
            add(&mut rows, "baselines", format!("{a}|{r}|{}", b.id));
        }
        for g in &ar.registrations {
            add(
                &mut rows,
                "patch_groups",
                format!("{a}|{r}|{}|{}", g.patch_group, ar.baseline_id(g.baseline)),
            );
        }
        for w in &ar.maintenance_windows {
            add(
                &mut rows,
                "maintenance_windows",
                format!("{a}|{r}|{}", w.window_id),
            );
        }
        for i in &ar.instances {
            let id = &i.instance_id;
            add(&mut rows, "instances", format!("{a}|{r}|{id}"));
            if i.patch_state.is_some() {
                add(&mut rows, "patch_states", format!("{a}|{r}|{id}"));
                for p in fleet.instance_patches(a, r, id).unwrap_or_default() {
                    add(
                        &mut rows,
                        "instance_patches",
                        format!("{a}|{r}|{id}|{}|{}", p.kb_id, p.title),
                    );
                }
            }
            for app in fleet.instance_applications(a, r, id).unwrap_or_default() {
                add(
                    &mut rows,
                    "inventory_applications",
                    format!("{a}|{r}|{id}|{}|{}", app.name, app.version),
                );
            }
        }
    }
    rows
}

const TABLE_KEYS: [(&str, &str); 7] = [
    ("baselines", "baseline_id"),
    ("patch_groups", "patch_group, baseline_id"),
    ("maintenance_windows", "window_id"),
    ("instances", "instance_id"),
    ("patch_states", "instance_id"),
    ("instance_patches", "instance_id, kb_id, title"),
    ("inventory_applications", "instance_id, name, version"),
];

fn strings(batch: &RecordBatch, i: usize) -> Vec<String> {
    (0..batch.num_columns())
        .map(|c| {
            let col = arrow::compute::cast(batch.column(c), &arrow::datatypes::DataType::Utf8)
                .expect("castable to text");
            let col = col.as_string::<i32>();
            if col.is_null(i) {
                String::new()
            } else {
                col.value(i).to_owned()
            }
        })
        .collect()
}

/// The committed run's rows, keyed like [`expected_rows`], restricted to `include`.
pub async fn lake_rows(q: &LakeQuery, include: impl Fn(&str, &str) -> bool) -> Rows {
    let mut rows = Rows::new();
    for (table, key) in TABLE_KEYS {
        let sql = format!("SELECT account_id, region, {key} FROM {table}");
        for b in q.sql(&sql).await.unwrap() {
            for i in 0..b.num_rows() {
                let v = strings(&b, i);
                if include(&v[0], &v[1]) {
                    add(&mut rows, table, v.join("|"));
                }
            }
        }
    }
    rows
}

/// Every key that differs between `want` and `got`, at most 10 per table.
pub fn differences(want: &Rows, got: &Rows) -> Vec<String> {
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    let tables: BTreeSet<&str> = want.keys().chain(got.keys()).copied().collect();
    for t in tables {
        let (w, g) = (want.get(t).unwrap_or(&empty), got.get(t).unwrap_or(&empty));
        let keys: BTreeSet<&String> = w.keys().chain(g.keys()).collect();
        let diff: Vec<String> = keys
            .into_iter()
            .filter(|k| w.get(*k) != g.get(*k))
            .map(|k| {
                format!(
                    "{t} {k}: want {} got {}",
                    w.get(k).unwrap_or(&0),
                    g.get(k).unwrap_or(&0)
                )
            })
            .collect();
        let n = diff.len();
        out.extend(diff.into_iter().take(10));
        if n > 10 {
            out.push(format!("{t}: {} more", n - 10));
        }
    }
    out
}

/// One cell of the matrix.
struct Case {
    name: &'static str,
    sim: FaultConfig,
    s3: S3Faults,
    /// `--set` overrides of the collection's configuration.
    sets: Vec<&'static str>,
    /// Role sessions of this many seconds (the simulator's minimum lowered to 1).
    session_seconds: Option<i64>,
    /// Error codes a non-`ok` account-region may carry in this case.
    allowed_codes: &'static [&'static str],
    /// Whether every account-region must be `ok` (faults the system must absorb).
    must_complete: bool,
    /// Instances per region (60 unless a case needs a smaller fleet to stay short).
    instances: usize,
}

impl Case {
    fn new(name: &'static str) -> Case {
        Case {
            name,
            sim: FaultConfig::default(),
            s3: S3Faults::default(),
            sets: Vec::new(),
            session_seconds: None,
            allowed_codes: &[],
            must_complete: true,
            instances: 60,
        }
    }
}

/// What one case measured, for RELIABILITY.md.
#[derive(Debug)]
struct Outcome {
    ok: usize,
    partial: usize,
    failed: usize,
    rows_checked: u64,
    sim_errors: u64,
    s3_faults: u64,
}

fn spec(seed: u64) -> FleetSpec {
    sized_spec(seed, 60)
}

/// `instances` per region (times `PATCHLAKE_FAULT_SCALE`; `PATCHLAKE_FAULT_INSTANCES`
/// overrides it, for diagnosing a case on a small fleet).
fn sized_spec(seed: u64, instances: usize) -> FleetSpec {
    let instances = std::env::var("PATCHLAKE_FAULT_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(instances);
    FleetSpec {
        accounts: 2,
        instances_per_region: instances * scale(),
        ..harness::small_spec(seed)
    }
}

async fn run_case(case: Case) -> Option<Outcome> {
    if skipped() {
        return None;
    }
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("PATCHLAKE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
    let started = std::time::Instant::now();
    let moto = Moto::start().await;
    let seed = case.sim.seed.unwrap_or(11);
    let fleet_spec = sized_spec(seed, case.instances);
    let sim = harness::start_with(
        &fleet_spec,
        SimOptions {
            faults: case.sim.clone(),
            min_session_seconds: 1,
            ..SimOptions::default()
        },
    )
    .await;
    let proxy = S3Proxy::start(&moto.endpoint, case.s3.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = harness::config(&sim, dir.path());
    let mut sets = vec![
        format!("lake.root=s3://{BUCKET}/faults"),
        format!("lake.endpoint_url={}", proxy.endpoint()),
        "lake.force_path_style=true".to_owned(),
        format!("lake.expected_bucket_owner={MOTO_ACCOUNT}"),
    ];
    sets.extend(case.sets.iter().map(|s| s.to_string()));
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let mut config: Config = harness::with(&base, &sets);
    // The bucket, created straight on moto (not through the faults).
    let direct = harness::with(&config, &[&format!("lake.endpoint_url={}", moto.endpoint)]);
    if let Some(s) = case.session_seconds {
        // Below STS's 900 s minimum, which validation refuses: set directly.
        config.roles.duration_seconds = s as _;
    }
    let factory = ClientFactory::new(&direct.aws, Some(simulator_credentials())).await;
    factory
        .s3(&direct.lake)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("creating the bucket");

    let summary: RunSummary = collect_run(Arc::new(config.clone()), Some(simulator_credentials()))
        .await
        .unwrap_or_else(|e| panic!("{}: the run failed: {e:#}", case.name));

    // The committed run, read back through the proxy (still injecting).
    let factory = ClientFactory::new(&config.aws, Some(simulator_credentials())).await;
    let lake = open_lake_with(&config, Some(&factory)).await.unwrap();
    let runs = lake.committed_runs().await.unwrap();
    assert_eq!(runs.len(), 1, "{}: one committed run", case.name);
    assert_eq!(runs[0].run_id, summary.run.run_id);
    let verified = lake.verify(&summary.run.run_id).await.unwrap();
    assert!(verified.is_ok(), "{}: {verified}", case.name);
    let q = LakeQuery::from_lake(&lake, AsOf::Latest, ReportParams::default())
        .await
        .unwrap();

    // Coverage in the lake equals the summary's, one row per account-region.
    let mut cov = BTreeMap::new();
    for b in q
        .sql("SELECT account_id, region, status, error_code, error_message FROM coverage")
        .await
        .unwrap()
    {
        for i in 0..b.num_rows() {
            let v = strings(&b, i);
            let prev = cov.insert(
                (v[0].clone(), v[1].clone()),
                (v[2].clone(), v[3].clone(), v[4].clone()),
            );
            assert!(prev.is_none(), "{}: coverage twice for {v:?}", case.name);
        }
    }
    let fleet = sim.fleet();
    let targets: BTreeSet<(String, String)> = fleet
        .account_regions()
        .iter()
        .map(|ar| (ar.account_id.clone(), ar.region.clone()))
        .collect();
    assert_eq!(
        cov.keys().cloned().collect::<BTreeSet<_>>(),
        targets,
        "{}: a coverage row for every account-region",
        case.name
    );

    let denied_assume = &case.sim.deny_assume_role;
    let denied_ssm = &case.sim.deny_ssm;
    let mut outcome = Outcome {
        ok: 0,
        partial: 0,
        failed: 0,
        rows_checked: 0,
        sim_errors: sim.stats().errors,
        s3_faults: {
            let s = proxy.stats();
            s.slow_downs + s.internal_errors + s.lost_responses
        },
    };
    for ((a, r), (status, code, message)) in &cov {
        let unreachable = denied_assume.contains(a) || denied_ssm.contains(&(a.clone(), r.clone()));
        match status.as_str() {
            "ok" => {
                assert!(!unreachable, "{}: {a} {r} is denied yet ok", case.name);
                outcome.ok += 1;
            }
            "partial" | "failed" => {
                if status == "partial" {
                    outcome.partial += 1;
                } else {
                    outcome.failed += 1;
                }
                if unreachable {
                    let want = if denied_assume.contains(a) {
                        "AccessDenied"
                    } else {
                        "AccessDeniedException"
                    };
                    assert_eq!(status, "failed", "{}: {a} {r}", case.name);
                    assert_eq!(code, want, "{}: {a} {r}: {message}", case.name);
                    assert!(message.contains(a.as_str()), "{}: {message}", case.name);
                } else {
                    assert!(
                        !case.must_complete,
                        "{}: {a} {r} is {status}: {code}: {message}",
                        case.name
                    );
                    assert!(
                        case.allowed_codes.contains(&code.as_str()),
                        "{}: {a} {r} {status} with an unexpected code {code:?}: {message}",
                        case.name
                    );
                    assert!(
                        message.contains("ssm:") || message.contains("sts:"),
                        "{}: the error names the call: {message}",
                        case.name
                    );
                }
            }
            other => panic!("{}: {a} {r}: unexpected status {other}", case.name),
        }
    }
    let complete = outcome.partial + outcome.failed == 0;
    assert_eq!(summary.is_complete(), complete, "{}", case.name);
    assert_eq!(
        summary
            .coverage
            .iter()
            .filter(|c| c.status == CoverageStatus::Ok)
            .count(),
        outcome.ok
    );

    // Every row of every `ok` account-region exactly once; nothing at all from denied ones;
    // partial ones hold no row twice and none the simulator does not hold.
    let is_ok = |a: &str, r: &str| {
        cov.get(&(a.to_owned(), r.to_owned()))
            .is_some_and(|(s, _, _)| s == "ok")
    };
    let want = expected_rows(fleet, is_ok);
    let got = lake_rows(&q, is_ok).await;
    let diff = differences(&want, &got);
    assert!(
        diff.is_empty(),
        "{}: rows differ from the simulator's:\n{}",
        case.name,
        diff.join("\n")
    );
    outcome.rows_checked = want
        .values()
        .flat_map(|m| m.values())
        .map(|&n| u64::from(n))
        .sum();
    let not_ok = |a: &str, r: &str| !is_ok(a, r);
    let all = expected_rows(fleet, not_ok);
    for (table, rows) in lake_rows(&q, not_ok).await {
        for (key, n) in rows {
            assert_eq!(
                n, 1,
                "{}: {table} {key} twice in a partial account-region",
                case.name
            );
            assert!(
                all.get(table).is_some_and(|t| t.contains_key(&key)),
                "{}: {table} {key} is not the simulator's",
                case.name
            );
            let (a, r) = key
                .split_once('|')
                .map(|(a, rest)| (a, rest.split('|').next().unwrap()))
                .unwrap();
            assert!(
                !denied_assume.contains(a) && !denied_ssm.contains(&(a.to_owned(), r.to_owned())),
                "{}: {table} {key} from a denied account-region",
                case.name
            );
        }
    }
    eprintln!(
        "fault case {}: ok {} partial {} failed {}; {} rows checked, 0 lost; {} simulator errors, {} S3 faults injected; proxy {:?}; simulator (calls, throttled) {:?}; {:.1?}",
        case.name,
        outcome.ok,
        outcome.partial,
        outcome.failed,
        outcome.rows_checked,
        outcome.sim_errors,
        outcome.s3_faults,
        proxy.stats(),
        (sim.stats().total_calls, sim.stats().throttled),
        started.elapsed()
    );
    sim.shutdown().await;
    Some(outcome)
}

fn accounts(seed: u64) -> Vec<String> {
    Fleet::generate(&spec(seed))
        .accounts()
        .iter()
        .map(|a| a.id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_is_retried_to_completion() {
    let mut case = Case::new("throttling storm (token bucket)");
    // Far below what the collector's concurrency asks for: about half the calls throttled.
    case.sim.throttle = Some(Throttle {
        rate_per_second: 100.0,
        burst: 10,
    });
    case.sim.seed = Some(100);
    let o = run_case(case).await;
    assert!(
        o.as_ref().is_none_or(|o| o.sim_errors > 0),
        "the storm never came: {o:?}"
    );
}

/// Random throttling of half the calls, whatever the rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_throttling_storm_on_half_the_calls_completes() {
    let mut case = Case::new("throttling 50% (random)");
    case.sim.throttle_probability = 0.5;
    case.sim.seed = Some(101);
    case.sets = vec!["aws.max_attempts=20"];
    let o = run_case(case).await;
    assert!(o.as_ref().is_none_or(|o| o.sim_errors > 100), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_on_5_percent_of_calls_are_retried_to_completion() {
    let mut case = Case::new("5xx 5%");
    case.sim.server_error_probability = 0.05;
    case.sim.seed = Some(102);
    run_case(case).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_spikes_of_2_s_past_the_attempt_timeout_are_retried() {
    let mut case = Case::new("2 s latency spikes");
    case.sim.spike_probability = 0.02;
    case.sim.spike = Duration::from_secs(2);
    case.sim.seed = Some(103);
    // Spikes outlast the attempt timeout: each is a timed-out attempt, retried.
    case.sets = vec!["aws.attempt_timeout_seconds=1"];
    run_case(case).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_accounts_and_regions_are_failed_in_coverage_and_the_rest_complete() {
    let mut case = Case::new("AccessDenied");
    let ids = accounts(104);
    case.sim.seed = Some(104);
    case.sim.deny_assume_role.insert(ids[0].clone());
    case.sim
        .deny_ssm
        .insert((ids[1].clone(), "eu-west-1".to_owned()));
    let o = run_case(case).await;
    assert!(
        o.as_ref().is_none_or(|o| o.failed == 3 && o.ok == 1),
        "{o:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_sessions_expiring_every_2_s_are_renewed() {
    let mut case = Case::new("expiring credentials");
    case.sim.seed = Some(105);
    case.sim.latency = Duration::from_millis(10);
    case.session_seconds = Some(2);
    case.sets = vec!["collect.per_region_concurrency=2"];
    run_case(case).await;
}

/// Invalid and truncated JSON in a 200 answer parse as an "other" error that the SDK's
/// standard classifiers do not retry; the SSM clients' own classifier does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_and_cut_pages_are_retried_to_completion() {
    let mut case = Case::new("malformed pages (invalid JSON, truncated, cut)");
    case.sim.seed = Some(106);
    case.sim.malformed_probability = 0.05;
    case.sim.malformations = vec![
        Malformation::InvalidJson,
        Malformation::Truncated,
        Malformation::CutConnection,
    ];
    run_case(case).await;
}

/// A page whose list item lacks its identifier parses (the SDK corrects missing required
/// members to defaults): it is re-requested like a garbled page, so the run completes exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_missing_an_identifier_are_not_kept_short() {
    let mut case = Case::new("pages missing identifiers");
    case.sim.seed = Some(107);
    case.sim.malformed_probability = 0.05;
    case.sim.malformations = vec![Malformation::MissingField];
    let o = run_case(case).await;
    assert!(o.as_ref().is_none_or(|o| o.sim_errors > 0), "{o:?}");
}

/// Every page missing an identifier, whatever the attempt: the first instance page is still
/// malformed when the attempts run out, so each account-region fails with MalformedResponse
/// naming the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_always_missing_an_identifier_fail_with_malformed_response() {
    let mut case = Case::new("every page missing an identifier");
    case.sim.seed = Some(113);
    case.sim.malformed_probability = 1.0;
    case.sim.malformations = vec![Malformation::MissingField];
    case.sets = vec!["aws.max_attempts=3"];
    case.must_complete = false;
    case.allowed_codes = &["MalformedResponse"];
    let o = run_case(case).await;
    assert!(o.as_ref().is_none_or(|o| o.failed == 4), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_pagination_tokens_never_shorten_a_result_silently() {
    let mut case = Case::new("expired NextTokens 5%");
    case.sim.seed = Some(108);
    case.sim.bad_token_probability = 0.05;
    // A listing whose token expired restarts from its first page, up to 3 times; at 5 % of
    // continuation calls some long listings meet a fourth rejection, and the account-region is
    // reported partial or failed with InvalidNextToken, naming the call. (A one-shot expiry
    // completes: `a_single_expired_pagination_token_restarts_its_listing_and_completes`.)
    case.must_complete = false;
    case.allowed_codes = &["InvalidNextToken"];
    let o = run_case(case).await;
    assert!(
        o.as_ref().is_none_or(|o| o.partial + o.failed > 0),
        "the fault never bit: {o:?}"
    );
}

/// One NextToken rejected in the whole run (the first continuation call): its listing restarts
/// from the first page and every account-region completes, each row exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_expired_pagination_token_restarts_its_listing_and_completes() {
    let mut case = Case::new("one expired NextToken");
    case.sim.seed = Some(109);
    case.sim.bad_token_probability = 1.0;
    case.sim.bad_token_limit = Some(1);
    let o = run_case(case).await;
    assert!(
        o.as_ref().is_none_or(|o| o.sim_errors == 1),
        "exactly one token was to be rejected: {o:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_slow_downs_internal_errors_and_latency_are_retried() {
    let mut case = Case::new("S3 5xx 5% + SlowDown + 300 ms latency");
    case.sim.seed = Some(109);
    case.s3 = S3Faults {
        error_probability: 0.05,
        latency_probability: 0.1,
        latency: Duration::from_millis(300),
        seed: 109,
        ..S3Faults::default()
    };
    let o = run_case(case).await;
    assert!(o.as_ref().is_none_or(|o| o.s3_faults > 0), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_responses_lost_after_the_write_are_retried_without_duplicates() {
    let mut case = Case::new("S3 lost responses 5%");
    case.sim.seed = Some(110);
    case.s3 = S3Faults {
        lost_response_probability: 0.05,
        seed: 110,
        ..S3Faults::default()
    };
    run_case(case).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_at_once() {
    let mut case = Case::new("combined");
    let ids = accounts(111);
    case.sim = FaultConfig {
        throttle: Some(Throttle {
            rate_per_second: 200.0,
            burst: 20,
        }),

        server_error_probability: 0.05,
        spike_probability: 0.01,
        spike: Duration::from_secs(2),
        seed: Some(111),
        ..FaultConfig::default()
    };
    case.sim
        .deny_ssm
        .insert((ids[1].clone(), "us-east-1".to_owned()));
    // No 1 s attempt timeout here: with throttling, attempts then time out while paced
    // (25 DescribeInstancePatches calls ended in Timeout in one account-region; see
    // RELIABILITY.md).
    case.sets = vec!["aws.max_attempts=12"];
    case.s3 = S3Faults {
        error_probability: 0.05,
        lost_response_probability: 0.02,
        latency_probability: 0.05,
        latency: Duration::from_millis(200),
        seed: 111,
        ..S3Faults::default()
    };
    let o = run_case(case).await;
    assert!(
        o.as_ref().is_none_or(|o| o.failed == 1 && o.ok == 3),
        "{o:?}"
    );
}

/// Throttling with role sessions that lapse every 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_with_expiring_sessions() {
    let mut case = Case::new("throttling + expiring credentials");
    case.sim = FaultConfig {
        throttle: Some(Throttle {
            rate_per_second: 200.0,
            burst: 20,
        }),
        throttle_probability: 0.2,
        seed: Some(112),
        ..FaultConfig::default()
    };
    case.session_seconds = Some(3);
    case.sets = vec!["aws.max_attempts=12"];
    run_case(case).await;
}
