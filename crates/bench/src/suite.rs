//! The query suite: every named report plus the ad-hoc shapes users type, each with the SQL
//! DataFusion runs and the SQL DuckDB runs.
//!
//! DuckDB runs the *same text*: the reports and views in `queries/` are written in the SQL
//! both engines accept (`COUNT(*) FILTER`, `SELECT * EXCLUDE`, `UNNEST` in the select list,
//! `date_part('epoch', ..)`), so no translation is needed. A query that needs one gets a
//! DuckDB twin in [`DUCKDB_TWINS`] (empty today), so any divergence is visible in one place.
//! The DuckDB side sees the same relations: each lake table as a view over the selected
//! run's files, `history_<table>` over every committed run with `dt` and `run_id` from the
//! Hive path kept as VARCHAR, and `params`/`history_params` copied from DataFusion's.

use serde::{Deserialize, Serialize};

use crate::generate::Probe;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A named report, run through `LakeQuery::report`.
    Report,
    /// Ad-hoc SQL, run through `LakeQuery::sql`.
    AdHoc,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    pub name: String,
    pub kind: Kind,
    pub sql: String,
    pub duckdb_sql: String,
}

/// (query name, DuckDB SQL) for queries whose DataFusion SQL DuckDB does not accept.
pub const DUCKDB_TWINS: &[(&str, &str)] = &[];

fn twin(name: &str, sql: &str) -> String {
    DUCKDB_TWINS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(sql, |(_, twin)| twin)
        .to_owned()
}

/// The ad-hoc shapes, parameterized with values that exist in the lake.
pub fn ad_hoc(probe: &Probe) -> Vec<(&'static str, String)> {
    let Probe {
        account_id,
        region,
        instance_id,
        cve_id,
        title_word,
        first_dt: _,
        recent_dt,
        last_dt,
    } = probe;
    // The date 30 days before the latest run, computed here so both engines compare strings.
    let month_before = chrono::NaiveDate::parse_from_str(last_dt, "%Y-%m-%d")
        .map(|d| {
            (d - chrono::Duration::days(30))
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_default();
    vec![
        (
            "adhoc_count_missing_history",
            "SELECT COUNT(*) AS missing FROM history_instance_patches WHERE state = 'MISSING'"
                .to_owned(),
        ),
        (
            "adhoc_account_region_dates",
            format!(
                "SELECT dt, state, severity, COUNT(*) AS patches, COUNT(DISTINCT instance_id) AS instances \
                 FROM history_instance_patches \
                 WHERE account_id = '{account_id}' AND region = '{region}' \
                   AND dt BETWEEN '{recent_dt}' AND '{last_dt}' \
                 GROUP BY dt, state, severity ORDER BY dt, state, severity"
            ),
        ),
        (
            "adhoc_top_instances_missing_critical",
            "SELECT account_id, region, instance_id, COUNT(*) AS missing_critical \
             FROM instance_patches \
             WHERE state IN ('MISSING', 'FAILED') AND severity = 'Critical' \
             GROUP BY account_id, region, instance_id \
             ORDER BY missing_critical DESC, account_id, region, instance_id LIMIT 20"
                .to_owned(),
        ),
        (
            "adhoc_title_like_top",
            format!(
                "SELECT account_id, region, instance_id, title, state, installed_at \
                 FROM instance_patches WHERE title LIKE '%{title_word}%' \
                 ORDER BY installed_at DESC NULLS LAST, account_id, region, instance_id, title \
                 LIMIT 100"
            ),
        ),
        (
            "adhoc_cve_lookup",
            format!(
                "SELECT account_id, region, instance_id, title, state \
                 FROM instance_patches WHERE array_has(cve_ids, '{cve_id}') \
                 ORDER BY account_id, region, instance_id, title"
            ),
        ),
        (
            "adhoc_instance_lookup",
            format!(
                "SELECT title, classification, severity, state, installed_at \
                 FROM instance_patches WHERE instance_id = '{instance_id}' ORDER BY title"
            ),
        ),
        (
            "adhoc_trend_30d_window",
            format!(
                "WITH daily AS ( \
                   SELECT dt, severity, COUNT(*) AS missing \
                   FROM history_instance_patches \
                   WHERE state IN ('MISSING', 'FAILED') \
                     AND dt > '{month_before}' \
                   GROUP BY dt, severity) \
                 SELECT dt, severity, missing, \
                   missing - LAG(missing) OVER (PARTITION BY severity ORDER BY dt) AS change, \
                   ROUND(AVG(missing) OVER (PARTITION BY severity ORDER BY dt \
                         ROWS BETWEEN 6 PRECEDING AND CURRENT ROW), 1) AS avg_7_runs, \
                   RANK() OVER (PARTITION BY dt ORDER BY missing DESC) AS rank_in_day \
                 FROM daily ORDER BY dt, severity"
            ),
        ),
        (
            "adhoc_noncompliant_trend_window",
            "WITH daily AS ( \
               SELECT dt, COUNT(*) FILTER (WHERE status = 'non_compliant') AS non_compliant, \
                      COUNT(*) AS instances \
               FROM history_instance_compliance GROUP BY dt) \
             SELECT dt, non_compliant, instances, \
               SUM(non_compliant) OVER (ORDER BY dt ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cumulative, \
               non_compliant - FIRST_VALUE(non_compliant) OVER (ORDER BY dt) AS since_first \
             FROM daily ORDER BY dt"
                .to_owned(),
        ),
    ]
}

/// Every report (through `LakeQuery::report`) and every ad-hoc shape.
pub fn suite(probe: &Probe) -> Vec<Query> {
    let mut queries: Vec<Query> = patchlake_query::list_reports()
        .iter()
        .map(|r| Query {
            name: r.name.to_owned(),
            kind: Kind::Report,
            sql: r.sql.to_owned(),
            duckdb_sql: twin(r.name, r.sql),
        })
        .collect();
    queries.extend(ad_hoc(probe).into_iter().map(|(name, sql)| Query {
        name: name.to_owned(),
        kind: Kind::AdHoc,
        duckdb_sql: twin(name, &sql),
        sql,
    }));
    queries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suite_holds_every_report_and_the_ad_hoc_shapes() {
        let probe = crate::generate::Fleet::new(1, crate::generate::Scale::Small.spec()).probe();
        let suite = suite(&probe);
        for report in patchlake_query::list_reports() {
            assert!(
                suite
                    .iter()
                    .any(|q| q.name == report.name && q.kind == Kind::Report)
            );
        }
        assert!(suite.iter().filter(|q| q.kind == Kind::AdHoc).count() >= 7);
        let cve = suite.iter().find(|q| q.name == "adhoc_cve_lookup").unwrap();
        assert!(cve.sql.contains(&probe.cve_id) && probe.cve_id.starts_with("CVE-"));
        let names: std::collections::BTreeSet<_> = suite.iter().map(|q| &q.name).collect();
        assert_eq!(names.len(), suite.len(), "names are unique");
    }
}
