//! Property tests of the report parameters: whatever text reaches `--as-of` or a report
//! name, and whatever numbers reach the `report.*` options, the query layer answers with a
//! value or an error naming the parameter, never a panic; valid dates and run ids survive
//! parse → display → parse.
//!
//! `PROPTEST_CASES=N` (or `PATCHLAKE_FUZZ_CASES=N`) sets the cases of the parsing properties
//! (default 512); the ones opening a lake run a sixteenth of that.

use std::sync::OnceLock;

use chrono::{NaiveDate, TimeZone, Utc};
use patchlake_lake::Lake;
use patchlake_model::RunId;
use patchlake_model::records::{CoverageStatus, TaskOutput};
use patchlake_query::{
    AsOf, Error, LakeQuery, ReportOptions, ReportParams, find_report, list_reports,
};
use proptest::prelude::*;

use crate::fixtures::{A, AL2023, commit, coverage, instance, run_id, state};

fn cases() -> u32 {
    ["PROPTEST_CASES", "PATCHLAKE_FUZZ_CASES"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.parse().ok())
        .unwrap_or(512)
}

fn as_of_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("latest".to_owned()),
        Just(" LaTeSt ".to_owned()),
        "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}",
        "[+-]?[0-9]{1,7}-[0-9]{2}-[0-9]{2}",
        "[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}",
        "[0-9]{8}T[0-9]{6}Z-[0-9a-zA-Z]{0,10}",
        "[ -~]{0,30}",
        any::<String>(),
    ]
}

/// A lake with two committed runs (2026-11-20 and 2026-11-25), built once.
fn lake() -> &'static (tempfile::TempDir, Vec<RunId>) {
    static LAKE: OnceLock<(tempfile::TempDir, Vec<RunId>)> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let runs = vec![run_id(20, 6), run_id(25, 8)];
        std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Runtime::new().unwrap().block_on(async {
                    let lake = Lake::open(dir.path()).unwrap();
                    for r in &runs {
                        let mut t = TaskOutput::empty(coverage(A, "us-east-1", CoverageStatus::Ok));
                        instance(&mut t, "i-01", Some(AL2023), None);
                        state(
                            &mut t,
                            "i-01",
                            "pb-1",
                            crate::fixtures::at(19, 1),
                            (2, 0, 0),
                        );
                        commit(&lake, r, &[t]).await;
                    }
                })
            });
        });
        (dir, runs)
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn as_of_is_a_value_or_an_error_naming_it(text in as_of_text()) {
        match text.parse::<AsOf>() {
            Ok(as_of) => {
                // What parses prints as something that parses to the same value.
                let shown = as_of.to_string();
                prop_assert_eq!(shown.parse::<AsOf>().unwrap(), as_of);
            }
            Err(e) => {
                prop_assert!(matches!(e, Error::InvalidAsOf { .. }), "{e:?}");
                let message = e.to_string();
                prop_assert!(message.contains("as-of"), "{message}");
                prop_assert!(message.contains(&format!("{:?}", text.trim())), "{message}");
            }
        }
    }

    #[test]
    fn dates_round_trip(days in -100_000i32..1_000_000) {
        let date = NaiveDate::from_num_days_from_ce_opt(days.max(1)).unwrap();
        let text = date.format("%Y-%m-%d").to_string();
        let as_of: AsOf = text.parse().unwrap();
        prop_assert_eq!(&as_of, &AsOf::Date(date));
        prop_assert_eq!(as_of.to_string(), text);
    }

    #[test]
    fn run_ids_round_trip(secs in 0i64..253_402_300_799, suffix in any::<u32>()) {
        let at = Utc.timestamp_opt(secs, 0).unwrap();
        let id = RunId::new(at, suffix);
        let as_of: AsOf = id.to_string().parse().unwrap();
        prop_assert_eq!(&as_of, &AsOf::Run(id.clone()));
        prop_assert_eq!(as_of.to_string(), id.to_string());
        prop_assert_eq!(id.to_string().parse::<RunId>().unwrap(), id);
    }

    #[test]
    fn report_names_are_found_or_refused_by_name(name in prop_oneof![
        prop::sample::select(list_reports().iter().map(|r| r.name.to_owned()).collect::<Vec<_>>()),
        "[a-z_]{0,30}",
        any::<String>(),
    ]) {
        let known = list_reports().iter().any(|r| r.name == name);
        match find_report(&name) {
            Ok(r) => prop_assert!(known && r.name == name),
            Err(e) => {
                prop_assert!(!known);
                prop_assert!(e.to_string().contains(&format!("{name:?}")), "{e}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases((cases() / 16).max(8)))]

    /// Any `--as-of` over a real lake: a committed run, or an error saying why.
    #[test]
    fn any_as_of_opens_a_committed_run_or_explains(text in as_of_text()) {
        let Ok(as_of) = text.parse::<AsOf>() else { return Ok(()) };
        let (dir, runs) = lake();
        let out = runtime().block_on(LakeQuery::open(dir.path(), as_of.clone(), ReportParams::default()));
        match (&as_of, out) {
            (AsOf::Latest, Ok(q)) => prop_assert_eq!(&q.run().run_id, &runs[1]),
            (AsOf::Run(id), Ok(q)) => prop_assert_eq!(&q.run().run_id, id),
            (AsOf::Date(d), Ok(q)) => {
                prop_assert!(q.run().run_id.date() <= *d);
                prop_assert!(runs.iter().all(|r| r.date() > *d || r.date() <= q.run().run_id.date()));
            }
            (AsOf::Latest, Err(e)) => prop_assert!(false, "latest failed: {e}"),
            (AsOf::Run(id), Err(e)) => prop_assert!(!runs.contains(id) && e.to_string().contains(&id.to_string()), "{e}"),
            (AsOf::Date(d), Err(e)) => {
                prop_assert!(runs.iter().all(|r| r.date() > *d), "{e}");
                prop_assert!(matches!(e, Error::NoRunAsOf { .. }), "{e:?}");
            }
        }
    }

    /// Any report options: accepted within range (and every report then runs), else refused
    /// naming the option.
    #[test]
    fn report_options_are_in_range_or_refused_by_name(
        stale in prop_oneof![Just(0), Just(36_500), Just(36_501), Just(-1), Just(i32::MAX), Just(i32::MIN), any::<i32>()],
        trend in prop_oneof![Just(1), Just(10_000), Just(0), Just(10_001), Just(i32::MAX), any::<i32>()],
        flags in any::<(bool, bool, bool)>(),
    ) {
        let (dir, _) = lake();
        let params = ReportParams { stale_after_days: stale };
        let options = ReportOptions {
            pending_reboot_non_compliant: flags.0,
            rejected_non_compliant: flags.1,
            exclude_inactive: flags.2,
            trend_runs: trend,
        };
        let rt = runtime();
        match rt.block_on(LakeQuery::open_with(dir.path(), AsOf::Latest, params, options)) {
            Ok(q) => {
                prop_assert!((0..=36_500).contains(&stale) && (1..=10_000).contains(&trend));
                let reports = rt.block_on(q.all_reports());
                prop_assert!(reports.is_ok(), "{:?}", reports.err());
            }
            Err(Error::InvalidParam { name, .. }) => {
                let bad_stale = !(0..=36_500).contains(&stale);
                let bad_trend = !(1..=10_000).contains(&trend);
                prop_assert!(
                    (name == "stale_after_days" && bad_stale) || (name == "trend_runs" && bad_trend),
                    "{name} refused for stale {stale} trend {trend}"
                );
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}
