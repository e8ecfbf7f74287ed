//! Golden output of every query in `queries/` over a seeded simulator lake, and the
//! compliance reports of every run of that lake checked against the simulator's truth.
//!
//! The lake is written by the real collector (aws-sdk-rust clients against the simulator on
//! loopback) and the real lake writer, in three runs of one fleet whose time moves on:
//! the simulator's anchor advances, so baselines approve newer advisories (patches fixed on
//! some instances, new ones missing on others) and the fleet grows between the first and the
//! second run. The expected output is checked in under `crates/query/tests/golden/`;
//! `PATCHLAKE_BLESS=1 cargo test --workspace golden` regenerates it (review the diff).
//!
//! Nothing is normalised: run ids are pinned (the only wall-clock value reports could show)
//! and every other value comes from the seeded fleet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use arrow::util::pretty::pretty_format_batches;
use chrono::{TimeZone, Utc};
use patchlake::demo::{config_for_simulator, simulator_credentials, start_simulator};
use patchlake::pipeline::collect_run_as;
use patchlake_config::Config;
use patchlake_model::{CoverageStatus, RunId, RunRecord};
use patchlake_query::{AsOf, LakeQuery, ReportOptions, ReportParams, list_reports};
use patchlake_sim::fleet::PatchComplianceState;
use patchlake_sim::{Agg, Fleet, FleetSpec, SimOptions, Truth, TruthOptions};

/// The fleet's seed: chosen so that the small fleet has every case the reports distinguish
/// (see [`the_fleet_covers_every_case`]).
const SEED: u64 = 1;

/// Day of November 2026 each run's fleet is anchored at, and instances per account-region.
const RUNS: [(u32, usize); 3] = [(4, 10), (8, 12), (13, 14)];

/// Runs start six hours after the fleet's anchor.
const RUN_HOUR: u32 = 6;

fn spec(day: u32, instances_per_region: usize) -> FleetSpec {
    FleetSpec {
        seed: SEED,
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        instances_per_region,
        anchor: Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap(),
        ..FleetSpec::default()
    }
}

fn run_id(n: usize, day: u32) -> RunId {
    RunId::new(
        Utc.with_ymd_and_hms(2026, 11, day, RUN_HOUR, 0, 0).unwrap(),
        0x601d_0000 + n as u32,
    )
}

/// One committed run of the golden lake and what the simulator says about it.
pub struct GoldenRun {
    pub run_id: RunId,
    pub fleet: Arc<Fleet>,
    pub truth: Truth,
}

/// Writes the golden lake under `root`: one simulator per run (same seed, later anchor),
/// collected in full with pinned run ids.
pub async fn golden_lake(root: &Path) -> Vec<GoldenRun> {
    let mut runs = Vec::new();
    for (n, (day, per_region)) in RUNS.into_iter().enumerate() {
        let spec = spec(day, per_region);
        let sim = start_simulator(&spec, SimOptions::default()).await.unwrap();
        let config = config_for_simulator(&sim, root).unwrap();
        let run_id = run_id(n, day);
        let record = collect_pinned(&config, &run_id).await.unwrap();
        assert_eq!(record.tasks_failed, 0, "{record:?}");
        let fleet = Arc::clone(sim.fleet());
        sim.shutdown().await;
        let truth = fleet.truth(&TruthOptions::at(run_id.started_at()));
        runs.push(GoldenRun {
            run_id,
            fleet,
            truth,
        });
    }
    runs
}

/// `pipeline::collect_run` with the run id given instead of drawn from the clock (and without
/// its progress display or incremental reuse): discover, plan, collect every account-region
/// with the real SDK clients, stage, finalize.
async fn collect_pinned(config: &Config, run_id: &RunId) -> anyhow::Result<RunRecord> {
    let summary = collect_run_as(
        Arc::new(config.clone()),
        Some(simulator_credentials()),
        run_id.clone(),
    )
    .await?;
    for c in &summary.coverage {
        assert_eq!(c.status, CoverageStatus::Ok, "{c:?}");
    }
    Ok(summary.run)
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../query/tests/golden")
}

fn queries_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../queries")
}

/// The SQL each golden file holds the output of: every named report, and every view read
/// whole in a fixed order.
fn golden_queries() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list_reports()
        .iter()
        .map(|r| (r.name.to_owned(), r.sql.to_owned()))
        .collect();
    out.push((
        "views/instance_compliance".into(),
        "SELECT * FROM instance_compliance ORDER BY account_id, region, instance_id".into(),
    ));
    out.push((
        "views/history_instance_compliance".into(),
        "SELECT * FROM history_instance_compliance ORDER BY run_id, account_id, region, instance_id"
            .into(),
    ));
    out
}

/// Every `.sql` file of `queries/` and `queries/views/` (not the Athena twins), as
/// `name` or `views/name`.
fn query_files() -> Vec<String> {
    let mut names = Vec::new();
    for (dir, prefix) in [(queries_dir(), ""), (queries_dir().join("views"), "views/")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sql") {
                let stem = path.file_stem().unwrap().to_string_lossy();
                names.push(format!("{prefix}{stem}"));
            }
        }
    }
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_matches_its_golden_output_over_the_simulator_lake() {
    let dir = tempfile::tempdir().unwrap();
    let runs = golden_lake(dir.path()).await;
    let q = LakeQuery::open(dir.path(), AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    assert_eq!(q.run().run_id, runs[2].run_id);

    let queries = golden_queries();
    let mut covered: Vec<String> = queries.iter().map(|(name, _)| name.clone()).collect();
    covered.sort();
    assert_eq!(
        covered,
        query_files(),
        "every query in queries/ needs a golden file, and every golden file a query"
    );

    let bless = std::env::var_os("PATCHLAKE_BLESS").is_some();
    let mut failures = Vec::new();
    for (name, sql) in &queries {
        let batches = match patchlake_query::find_report(name) {
            Ok(report) => q.report(report.name).await,
            Err(_) => q.sql(sql).await,
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = format!("{}\n", pretty_format_batches(&batches).unwrap());
        let path = golden_dir().join(format!("{name}.txt"));
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != text {
            failures.push(first_difference(&path, &expected, &text));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(PATCHLAKE_BLESS=1 cargo test --workspace golden regenerates; review the diff)",
        failures.join("\n")
    );
}

/// The first differing line of a golden file, with its neighbours, rather than two whole
/// tables of hundreds of lines.
fn first_difference(path: &Path, expected: &str, got: &str) -> String {
    let (e, g): (Vec<_>, Vec<_>) = (expected.lines().collect(), got.lines().collect());
    let at = e
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(e.len().min(g.len()));
    let around = |lines: &[&str]| lines[at.saturating_sub(2)..(at + 3).min(lines.len())].join("\n");
    format!(
        "{}: differs at line {} ({} lines expected, {} got)\n--- expected\n{}\n--- got\n{}",
        path.display(),
        at + 1,
        e.len(),
        g.len(),
        around(&e),
        around(&g)
    )
}

/// The simulator's fleet has what the golden files are meant to show, in every run.
#[test]
fn the_fleet_covers_every_case() {
    if let Err(e) = fleet_cases(SEED) {
        panic!("seed {SEED}: {e}");
    }
}

/// Whether the fleet of `seed` has, in every run, every status, both inactive ping statuses,
/// drift, several groups, baselines and operating systems, maintenance windows everywhere,
/// and between runs patches fixed and patches newly missing.
fn fleet_cases(seed: u64) -> Result<(), String> {
    let mut previous: Option<BTreeMap<String, Vec<String>>> = None;
    let (mut fixed, mut appeared) = (0, 0);
    for (n, (day, per_region)) in RUNS.into_iter().enumerate() {
        let fleet = Fleet::generate(&FleetSpec {
            seed,
            ..spec(day, per_region)
        });
        let truth = fleet.truth(&TruthOptions::at(run_id(n, day).started_at()));
        let c = truth.compliance;
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("run {n}: {what}"))
            }
        };
        check(
            c.compliant > 0 && c.non_compliant > 0 && c.stale > 0 && c.unreported > 0,
            &format!("not every status: {c:?}"),
        )?;
        let instances = || {
            fleet
                .account_regions()
                .iter()
                .flat_map(|ar| ar.instances.iter())
        };
        for ping in ["ConnectionLost", "Inactive"] {
            check(
                instances().any(|i| i.ping_status.as_str() == ping),
                &format!("no {ping} instance"),
            )?;
        }
        check(
            instances().any(|i| i.patch_state.as_ref().is_some_and(|s| s.drifted)),
            "no drift",
        )?;
        check(truth.by_patch_group.len() >= 4, "fewer than 4 patch groups")?;
        check(truth.by_operating_system.len() >= 3, "fewer than 3 OSes")?;
        check(truth.by_baseline.len() >= 6, "fewer than 6 baselines")?;
        check(
            fleet
                .account_regions()
                .iter()
                .all(|ar| !ar.maintenance_windows.is_empty()),
            "an account-region without maintenance windows",
        )?;

        // Missing or failed patch titles per instance, to see patches come and go.
        let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ar in fleet.account_regions() {
            for i in &ar.instances {
                let records = fleet
                    .instance_patches(&ar.account_id, &ar.region, &i.instance_id)
                    .unwrap_or_default();
                let titles: Vec<String> = records
                    .iter()
                    .filter(|p| {
                        matches!(
                            p.state,
                            PatchComplianceState::Missing | PatchComplianceState::Failed
                        )
                    })
                    .map(|p| p.title.clone())
                    .collect();
                missing.insert(i.instance_id.clone(), titles);
            }
        }
        if let Some(before) = &previous {
            for (id, titles) in &missing {
                let old = before.get(id).cloned().unwrap_or_default();
                fixed += old.iter().filter(|t| !titles.contains(t)).count();
                appeared += titles.iter().filter(|t| !old.contains(t)).count();
            }
        }
        previous = Some(missing);
    }
    if fixed == 0 || appeared == 0 {
        return Err(format!("patches fixed {fixed}, newly missing {appeared}"));
    }
    Ok(())
}

/// Rows of a compliance report as `key → Agg`, the key being the given columns joined by `/`.
fn aggs(batches: &[RecordBatch], keys: &[&str]) -> BTreeMap<String, Agg> {
    let mut out = BTreeMap::new();
    for b in batches {
        let col = |name: &str| -> Vec<u64> {
            let a = b
                .column_by_name(name)
                .unwrap_or_else(|| panic!("report has no column {name}"));
            let a = arrow::compute::cast(a, &DataType::Int64).unwrap();
            let a = a.as_primitive::<Int64Type>();
            (0..a.len()).map(|i| a.value(i) as u64).collect()
        };
        let key_cols: Vec<_> = keys
            .iter()
            .map(|k| arrow::compute::cast(b.column_by_name(k).unwrap(), &DataType::Utf8).unwrap())
            .collect();
        let [
            instances,
            compliant,
            non_compliant,
            stale,
            unreported,
            inactive,
        ] = [
            "instances",
            "compliant",
            "non_compliant",
            "stale",
            "unreported",
            "inactive",
        ]
        .map(col);
        let [missing, failed, reboot, critical, security] = [
            "missing",
            "failed",
            "installed_pending_reboot",
            "critical_non_compliant",
            "security_non_compliant",
        ]
        .map(col);
        for i in 0..b.num_rows() {
            let key: Vec<&str> = key_cols
                .iter()
                .map(|c| c.as_string::<i32>().value(i))
                .collect();
            out.insert(
                key.join("/"),
                Agg {
                    instances: instances[i],
                    compliant: compliant[i],
                    non_compliant: non_compliant[i],
                    stale: stale[i],
                    unreported: unreported[i],
                    inactive: inactive[i],
                    missing: missing[i],
                    failed: failed[i],
                    installed_pending_reboot: reboot[i],
                    critical_non_compliant: critical[i],
                    security_non_compliant: security[i],
                },
            );
        }
    }
    out
}

/// Counts of `stale_and_unreported` rows per status.
fn statuses(batches: &[RecordBatch]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for b in batches {
        let status = b.column_by_name("status").unwrap().as_string::<i32>();
        for i in 0..status.len() {
            *out.entry(status.value(i).to_owned()).or_default() += 1;
        }
    }
    out
}

/// Per patch group, per baseline, per operating system and per account-region, every run of
/// the golden lake (selected with `--as-of`) reports the simulator's numbers for that run,
/// with inactive instances counted apart and, opted out, counted in; `stale_and_unreported`
/// lists exactly the stale, unreported and inactive instances the truth counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runs_reports_equal_the_simulators_truth() {
    let dir = tempfile::tempdir().unwrap();
    let runs = golden_lake(dir.path()).await;
    for run in &runs {
        for exclude_inactive in [true, false] {
            let truth = if exclude_inactive {
                run.truth.clone()
            } else {
                run.fleet.truth(&TruthOptions {
                    exclude_inactive: false,
                    ..TruthOptions::at(run.run_id.started_at())
                })
            };
            let q = LakeQuery::open_with(
                dir.path(),
                run.run_id.as_str().parse().unwrap(),
                ReportParams::default(),
                ReportOptions {
                    exclude_inactive,
                    ..ReportOptions::default()
                },
            )
            .await
            .unwrap();
            assert_eq!(q.run().run_id, run.run_id);
            let report = |name: &'static str| {
                let q = &q;
                async move { q.report(name).await.unwrap() }
            };
            let context = format!("run {}, exclude_inactive {exclude_inactive}", run.run_id);
            assert_eq!(
                aggs(&report("compliance_by_patch_group").await, &["patch_group"]),
                truth.by_patch_group,
                "{context}"
            );
            assert_eq!(
                aggs(&report("compliance_by_baseline").await, &["baseline_id"]),
                truth.by_baseline,
                "{context}"
            );
            assert_eq!(
                aggs(
                    &report("compliance_by_operating_system").await,
                    &["operating_system"]
                ),
                truth.by_operating_system,
                "{context}"
            );
            let by_account_region: BTreeMap<String, Agg> = truth
                .by_account_region
                .iter()
                .flat_map(|(account, regions)| {
                    regions
                        .iter()
                        .map(move |(region, t)| (format!("{account}/{region}"), t.compliance))
                })
                .collect();
            assert_eq!(
                aggs(
                    &report("compliance_by_account_region").await,
                    &["account_id", "region"]
                ),
                by_account_region,
                "{context}"
            );
            let c = truth.compliance;
            let expected: BTreeMap<String, u64> = [
                ("stale", c.stale),
                ("unreported", c.unreported),
                ("inactive", c.inactive),
            ]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (s.to_owned(), n))
            .collect();
            assert_eq!(
                statuses(&report("stale_and_unreported").await),
                expected,
                "{context}"
            );
        }
    }
    // The lake's runs differ from each other, so agreeing in each is not agreeing once.
    assert_ne!(runs[0].truth.compliance, runs[1].truth.compliance);
    assert!(runs[0].truth.compliance.inactive > 0);
}
