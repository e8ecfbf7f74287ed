//! patchlake's query layer: DataFusion SQL over the committed runs of a lake.
//!
//! This crate owns the query context ([`LakeQuery`]): which run a report sees ([`AsOf`]), how
//! lake tables are exposed to SQL (each table holding only the selected run's rows, plus
//! `history_<table>` over every committed run with `dt` and `run_id` partition columns), the
//! report parameters (`params`), the DataFusion session settings, and the registry of named
//! reports whose SQL lives in the top-level `queries/` directory.
//!
//! It must never read an uncommitted run: files are registered from `runs` records, not found
//! by listing directories. It does not write to the lake (that is `patchlake-lake`) and does
//! not format output (that is `patchlake-report`); compliance is defined in SQL
//! (`queries/views/instance_compliance.sql`), never in Rust.

pub mod athena;
pub mod error;
pub mod malloc;
pub mod reports;
mod store;
pub mod table;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use patchlake_lake::{Lake, layout};
use patchlake_model::{RunId, RunRecord, Table};

pub use error::{Error, Result};
pub use reports::{Report, View, find_report, list_reports};
use table::{CommittedFile, CommittedFiles};

/// Which committed run the reports see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// The most recent committed run.
    Latest,
    /// This run, which must be committed.
    Run(RunId),
    /// The latest committed run whose `dt` is on or before this date.
    Date(NaiveDate),
}

impl FromStr for AsOf {
    type Err = Error;

    /// `latest`, a run id (`20261125T101112Z-deadbeef`) or a date (`2026-11-25`).
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("latest") {
            return Ok(AsOf::Latest);
        }
        if let Ok(run_id) = s.parse::<RunId>() {
            return Ok(AsOf::Run(run_id));
        }
        if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(AsOf::Date(date));
        }
        Err(Error::InvalidAsOf {
            value: s.to_owned(),
        })
    }
}

impl fmt::Display for AsOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsOf::Latest => f.write_str("latest"),
            AsOf::Run(run_id) => write!(f, "{run_id}"),
            AsOf::Date(date) => write!(f, "{}", date.format("%Y-%m-%d")),
        }
    }
}

/// Parameters of the reports, exposed to SQL as the one-row `params` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportParams {
    /// A patch state whose last operation ended more than this many days before the run
    /// started is `stale`.
    pub stale_after_days: i32,
}

impl Default for ReportParams {
    fn default() -> Self {
        ReportParams {
            stale_after_days: 7,
        }
    }
}

/// How statuses are decided and how far back trends look, exposed to SQL as further columns
/// of `params` and `history_params`. The defaults are those of the `report.*` config keys:
/// stopped, unreachable and terminated instances counted apart, pending reboots
/// non-compliant, rejected installs not.
///
/// Kept apart from [`ReportParams`] so callers building `ReportParams` with a struct literal
/// keep compiling; fold into it once they use `..ReportParams::default()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportOptions {
    /// `installed_pending_reboot > 0` makes an instance `non_compliant`.
    pub pending_reboot_non_compliant: bool,
    /// `installed_rejected > 0` makes an instance `non_compliant`.
    pub rejected_non_compliant: bool,
    /// Instances whose `ping_status` is `ConnectionLost` (EC2 stopped, or the agent
    /// unreachable) or `Inactive` (terminated or deregistered) get the status `inactive` and
    /// are left out of instance counts, patch sums and percentages, counted apart.
    pub exclude_inactive: bool,
    /// How many committed runs, up to and including the selected one, trends cover.
    pub trend_runs: i32,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            pending_reboot_non_compliant: true,
            rejected_non_compliant: false,
            exclude_inactive: true,
            trend_runs: 30,
        }
    }
}

/// The DataFusion settings of every query context, in one place: Parquet predicate pushdown
/// into the decoder, filter reordering, page-index and statistics pruning, bloom filters;
/// UTC session time zone; `information_schema` for `SHOW TABLES`.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(true);
    let options = config.options_mut();
    let parquet = &mut options.execution.parquet;
    parquet.pushdown_filters = true;
    parquet.reorder_filters = true;
    parquet.enable_page_index = true;
    parquet.pruning = true;
    parquet.bloom_filter_on_read = true;
    // A TopK's running bound, pushed into the Parquet scan as a row filter, cost more than it
    // pruned: a lake file is sorted by account, region, instance and title, so every row
    // group and page spans the whole range of another column (`installed_at`), a bound on it
    // skips none of them, and the decoder evaluates it row by row. `adhoc_title_like_top` (`LIKE` + `ORDER BY installed_at
    // DESC LIMIT 100` over a run) ran 1.5-2x faster without it at the medium bench.
    options.optimizer.enable_topk_dynamic_filter_pushdown = false;
    options.execution.time_zone = Some("+00:00".to_owned());
    config
}

/// A query context over one committed run of a lake.
pub struct LakeQuery {
    ctx: SessionContext,
    /// Kept to name damaged files when a query fails reading them.
    lake: Lake,
    run: RunRecord,
    runs: Vec<RunRecord>,
    params: ReportParams,
    options: ReportOptions,
}

impl fmt::Debug for LakeQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeQuery")
            .field("run_id", &self.run.run_id)
            .field("committed_runs", &self.runs.len())
            .field("params", &self.params)
            .field("options", &self.options)
            .finish()
    }
}

fn setup(what: impl Into<String>) -> impl FnOnce(DataFusionError) -> Error {
    let what = what.into();
    move |source| Error::Setup {
        what,
        source: Box::new(source),
    }
}

impl LakeQuery {
    /// Opens the local lake at `root` for the run `as_of` selects.
    pub async fn open(root: &Path, as_of: AsOf, params: ReportParams) -> Result<LakeQuery> {
        Self::open_with(root, as_of, params, ReportOptions::default()).await
    }

    /// [`LakeQuery::open`] with non-default [`ReportOptions`].
    pub async fn open_with(
        root: &Path,
        as_of: AsOf,
        params: ReportParams,
        options: ReportOptions,
    ) -> Result<LakeQuery> {
        let lake = Lake::open_existing(root).map_err(|e| match e {
            patchlake_lake::Error::NotFound { .. } => Error::LakeNotFound {
                root: root.to_path_buf(),
            },
            e => e.into(),
        })?;
        Self::from_lake_with(&lake, as_of, params, options).await
    }

    /// A query context over an already opened lake.
    pub async fn from_lake(lake: &Lake, as_of: AsOf, params: ReportParams) -> Result<LakeQuery> {
        Self::from_lake_with(lake, as_of, params, ReportOptions::default()).await
    }

    /// [`LakeQuery::from_lake`] with non-default [`ReportOptions`].
    pub async fn from_lake_with(
        lake: &Lake,
        as_of: AsOf,
        params: ReportParams,
        options: ReportOptions,
    ) -> Result<LakeQuery> {
        if !(1..=10_000).contains(&options.trend_runs) {
            return Err(Error::InvalidParam {
                name: "trend_runs",
                detail: format!("{} is not between 1 and 10000", options.trend_runs),
            });
        }
        if !(0..=36_500).contains(&params.stale_after_days) {
            return Err(Error::InvalidParam {
                name: "stale_after_days",
                detail: format!("{} is not between 0 and 36500", params.stale_after_days),
            });
        }
        let ctx = SessionContext::new_with_config(session_config());
        let files = store::register(&ctx, lake).await?;
        let root = files.root.clone();
        let mut runs = lake.committed_runs().await?;
        // A run committed between the two listings is not visible yet.
        runs.retain(|r| files.records.contains_key(&r.run_id));
        let run = select_run(lake, &root, &runs, &as_of).await?;
        register_tables(&ctx, &files, &run, &runs)?;
        register_params(&ctx, &run, &runs, &params, &options)?;
        for view in reports::VIEWS {
            ctx.sql(&selected_run_view(view, &run))
                .await
                .map_err(setup(format!("view {}", view.name)))?;
        }
        tracing::debug!(run_id = %run.run_id, as_of = %as_of, "opened lake query");
        Ok(LakeQuery {
            ctx,
            lake: lake.clone(),
            run,
            runs,
            params,
            options,
        })
    }

    /// The run the reports see.
    pub fn run(&self) -> &RunRecord {
        &self.run
    }

    /// Every committed run (what the `history_*` tables cover), oldest first.
    pub fn committed_runs(&self) -> &[RunRecord] {
        &self.runs
    }

    pub fn params(&self) -> &ReportParams {
        &self.params
    }

    pub fn options(&self) -> &ReportOptions {
        &self.options
    }

    /// The DataFusion context, for callers that want DataFrames or plans.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs the named report. The result has at least one batch (empty when there are no
    /// rows), so its schema is always known.
    pub async fn report(&self, name: &str) -> Result<Vec<RecordBatch>> {
        let report = find_report(name)?;
        match self.run_sql(report.sql).await {
            Ok(batches) => Ok(batches),
            Err(source) => Err(self
                .damaged(format!("report {name}"), source, |source| Error::Report {
                    name: name.to_owned(),
                    source,
                })
                .await),
        }
    }

    /// Runs every named report, in presentation order.
    pub async fn all_reports(&self) -> Result<Vec<(&'static Report, Vec<RecordBatch>)>> {
        let mut out = Vec::with_capacity(list_reports().len());
        for report in list_reports() {
            out.push((report, self.report(report.name).await?));
        }
        Ok(out)
    }

    /// What a report was computed from, for headers of HTML pages and evidence: the run,
    /// its start, how many runs the history covers, and every parameter and option.
    pub fn describe(&self) -> Vec<(String, String)> {
        let o = &self.options;
        [
            ("run", self.run.run_id.to_string()),
            (
                "run started",
                self.run
                    .started_at
                    .format("%Y-%m-%d %H:%M:%S UTC")
                    .to_string(),
            ),
            ("committed runs", self.runs.len().to_string()),
            ("stale_after_days", self.params.stale_after_days.to_string()),
            (
                "pending_reboot_non_compliant",
                o.pending_reboot_non_compliant.to_string(),
            ),
            (
                "rejected_non_compliant",
                o.rejected_non_compliant.to_string(),
            ),
            ("exclude_inactive", o.exclude_inactive.to_string()),
            ("trend_runs", o.trend_runs.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Runs ad-hoc, read-only SQL (no DDL, DML or `SET`).
    pub async fn sql(&self, text: &str) -> Result<Vec<RecordBatch>> {
        match self.run_sql(text).await {
            Ok(batches) => Ok(batches),
            Err(source) => Err(self
                .damaged("query".to_owned(), source, |source| Error::Sql { source })
                .await),
        }
    }

    /// The error for a failed query: when it failed while executing (not planning), the
    /// committed files it may have read are checked against their runs records, and any that
    /// are damaged are named ([`Error::Damaged`]) — a Parquet decoder's message names no file.
    /// Otherwise `plain(source)`.
    async fn damaged(
        &self,
        context: String,
        source: DataFusionError,
        plain: impl FnOnce(Box<DataFusionError>) -> Error,
    ) -> Error {
        let planning = matches!(
            source.find_root(),
            DataFusionError::Plan(_)
                | DataFusionError::SQL(..)
                | DataFusionError::SchemaError(..)
                | DataFusionError::NotImplemented(_)
                | DataFusionError::Configuration(_)
        );
        if !planning {
            // The selected run first: most queries read only it.
            let mut order: Vec<&RunRecord> = vec![&self.run];
            order.extend(
                self.runs
                    .iter()
                    .rev()
                    .filter(|r| r.run_id != self.run.run_id),
            );
            for run in order {
                match self.lake.verify(&run.run_id).await {
                    Ok(report) if !report.is_ok() => {
                        let problems: Vec<String> =
                            report.problems.iter().map(ToString::to_string).collect();
                        return Error::Damaged {
                            context,
                            problems: problems.join("; "),
                            source: Box::new(source),
                        };
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(run_id = %run.run_id, "could not check the run's files after a failed query: {e}");
                    }
                }
            }
        }
        plain(Box::new(source))
    }

    async fn run_sql(&self, text: &str) -> Result<Vec<RecordBatch>, DataFusionError> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = self.ctx.sql_with_options(text, options).await?;
        let schema = plain_strings(frame.schema().as_arrow());
        let batches = frame
            .collect()
            .await?
            .into_iter()
            .map(|b| cast_batch(b, &schema))
            .collect::<Result<Vec<_>, DataFusionError>>()?;
        // An empty result still carries its columns, so every output format has a header.
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(vec![RecordBatch::new_empty(schema)]);
        }
        Ok(batches.into_iter().filter(|b| b.num_rows() > 0).collect())
    }
}

/// The text of `view` as this context registers it. `instance_compliance` is
/// `history_instance_compliance` for `runs_back = 0`; that filter is on the one-row
/// `history_params` table, so the planner cannot tell which run's files the history tables
/// need and would read (and join) every run's instances, patch states, baselines and patch
/// groups, to keep one run. The selected run's id, added as a literal, is inferred through
/// the view's joins on `run_id` down to each scan, which then opens that run's files only
/// (`CommittedFiles`' partition pruning). Same rows: the selected run is the one with
/// `runs_back = 0`.
fn selected_run_view(view: &View, run: &RunRecord) -> String {
    const SELECTED: &str = "WHERE runs_back = 0";
    if view.name != "instance_compliance" {
        return view.sql.to_owned();
    }
    assert!(
        view.sql.matches(SELECTED).count() == 1,
        "queries/views/instance_compliance.sql selects the run with `{SELECTED}`"
    );
    view.sql.replacen(
        SELECTED,
        &format!("{SELECTED} AND run_id = '{}'", run.run_id),
        1,
    )
}

/// `schema` with string views (how the lake tables are read) as plain `Utf8`, the type
/// results are handed out in.
fn plain_strings(schema: &Schema) -> Arc<Schema> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn cast_batch(batch: RecordBatch, schema: &Arc<Schema>) -> Result<RecordBatch, DataFusionError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

async fn select_run(
    lake: &Lake,
    root: &Path,
    runs: &[RunRecord],
    as_of: &AsOf,
) -> Result<RunRecord> {
    let no_runs = || Error::NoCommittedRuns {
        root: root.to_path_buf(),
    };
    match as_of {
        AsOf::Latest => runs.last().cloned().ok_or_else(no_runs),
        AsOf::Run(run_id) => match runs.iter().find(|r| &r.run_id == run_id) {
            Some(run) => Ok(run.clone()),
            // Not committed: let the lake explain (staged only, or unknown).
            None => Ok(lake.run(run_id).await?),
        },
        AsOf::Date(date) => {
            let earliest = runs.first().ok_or_else(no_runs)?;
            runs.iter()
                .rev()
                .find(|r| r.run_id.date() <= *date)
                .cloned()
                .ok_or_else(|| Error::NoRunAsOf {
                    date: *date,
                    earliest: earliest.run_id.clone(),
                    root: root.to_path_buf(),
                })
        }
    }
}

/// The committed files of `table` in `run`, as paths in the lake's object store.
fn run_files(
    files: &store::LakeFiles,
    table: Table,
    run: &RunRecord,
    partitioned: bool,
) -> Result<Vec<CommittedFile>> {
    let partition_values = || {
        if partitioned {
            vec![run.run_id.dt(), run.run_id.to_string()]
        } else {
            Vec::new()
        }
    };
    if table == Table::Runs {
        // The commit record is not listed in itself: its current revision, as listed.
        let Some(meta) = files.records.get(&run.run_id) else {
            return Err(patchlake_lake::Error::NotFound {
                path: format!("{}/{}", files.root.display(), layout::runs_key(&run.run_id)),
            }
            .into());
        };
        return Ok(vec![CommittedFile {
            path: files.path(&meta.key),
            size: meta.size,
            partition_values: partition_values(),
            rows: Some(1),
        }]);
    }
    Ok(run
        .files
        .iter()
        .filter(|f| f.table == table.name())
        .map(|f| CommittedFile {
            path: files.path(&f.path),
            size: f.bytes as u64,
            partition_values: partition_values(),
            rows: u64::try_from(f.rows).ok(),
        })
        .collect())
}

/// A context with every table, `params`, `history_params` and the views registered over no
/// files: the views' resolved columns without a lake (what the Athena generator needs).
pub(crate) async fn schema_context() -> Result<SessionContext> {
    let ctx = SessionContext::new_with_config(session_config());
    for table in Table::ALL {
        ctx.register_table(
            table.name(),
            Arc::new(CommittedFiles::current(table.schema(), Vec::new())),
        )
        .map_err(setup(format!("table {table}")))?;
        ctx.register_table(
            format!("history_{table}"),
            Arc::new(CommittedFiles::history(table.schema(), Vec::new())),
        )
        .map_err(setup(format!("table history_{table}")))?;
    }
    let (params, options) = (ReportParams::default(), ReportOptions::default());
    for (name, history) in [("params", false), ("history_params", true)] {
        let batch = params_batch(&[], &params, &options, history)?;
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])
            .map_err(setup(format!("table {name}")))?;
        ctx.register_table(name, Arc::new(table))
            .map_err(setup(format!("table {name}")))?;
    }
    for view in reports::VIEWS {
        ctx.sql(view.sql)
            .await
            .map_err(setup(format!("view {}", view.name)))?;
    }
    Ok(ctx)
}

fn register_tables(
    ctx: &SessionContext,
    files: &store::LakeFiles,
    run: &RunRecord,
    runs: &[RunRecord],
) -> Result<()> {
    for table in Table::ALL {
        let current = CommittedFiles::current(table.schema(), run_files(files, table, run, false)?)
            .in_store(files.store.clone());
        ctx.register_table(table.name(), Arc::new(current))
            .map_err(setup(format!("table {table}")))?;
        let mut all = Vec::new();
        for r in runs {
            all.extend(run_files(files, table, r, true)?);
        }
        let history = CommittedFiles::history(table.schema(), all).in_store(files.store.clone());
        ctx.register_table(format!("history_{table}"), Arc::new(history))
            .map_err(setup(format!("table history_{table}")))?;
    }
    Ok(())
}

/// `params` (one row, the selected run) and `history_params` (one row per committed run, with
/// `runs_back`: 0 for the selected run, 1 for the one before, negative for later runs), built
/// by one function so both carry the same parameters.
fn register_params(
    ctx: &SessionContext,
    run: &RunRecord,
    runs: &[RunRecord],
    params: &ReportParams,
    options: &ReportOptions,
) -> Result<()> {
    let selected = runs
        .iter()
        .position(|r| r.run_id == run.run_id)
        .unwrap_or(runs.len());
    let rows: Vec<(&RunRecord, i32)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r, selected as i32 - i as i32))
        .collect();
    let current = params_batch(&[(run, 0)], params, options, false)?;
    let history = params_batch(&rows, params, options, true)?;
    for (name, batch) in [("params", current), ("history_params", history)] {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])
            .map_err(setup(format!("table {name}")))?;
        ctx.register_table(name, Arc::new(table))
            .map_err(setup(format!("table {name}")))?;
    }
    Ok(())
}

fn params_batch(
    runs: &[(&RunRecord, i32)],
    params: &ReportParams,
    options: &ReportOptions,
    with_runs_back: bool,
) -> Result<RecordBatch> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("dt", DataType::Utf8, false),
        Field::new("run_started_at", ts.clone(), false),
        Field::new("stale_after_days", DataType::Int32, false),
        Field::new("stale_before", ts, false),
        Field::new("pending_reboot_non_compliant", DataType::Boolean, false),
        Field::new("rejected_non_compliant", DataType::Boolean, false),
        Field::new("exclude_inactive", DataType::Boolean, false),
        Field::new("trend_runs", DataType::Int32, false),
    ];
    let n = runs.len();
    let utc = |values: Vec<i64>| TimestampMicrosecondArray::from(values).with_timezone("UTC");
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            runs.iter().map(|(r, _)| r.run_id.to_string()),
        )),
        Arc::new(StringArray::from_iter_values(
            runs.iter().map(|(r, _)| r.run_id.dt()),
        )),
        Arc::new(utc(runs
            .iter()
            .map(|(r, _)| r.started_at.timestamp_micros())
            .collect())),
        Arc::new(Int32Array::from(vec![params.stale_after_days; n])),
        Arc::new(utc(runs
            .iter()
            .map(|(r, _)| {
                (r.started_at - Duration::days(params.stale_after_days.into())).timestamp_micros()
            })
            .collect())),
        Arc::new(BooleanArray::from(vec![
            options.pending_reboot_non_compliant;
            n
        ])),
        Arc::new(BooleanArray::from(vec![options.rejected_non_compliant; n])),
        Arc::new(BooleanArray::from(vec![options.exclude_inactive; n])),
        Arc::new(Int32Array::from(vec![options.trend_runs; n])),
    ];
    if with_runs_back {
        fields.push(Field::new("runs_back", DataType::Int32, false));
        columns.push(Arc::new(Int32Array::from_iter_values(
            runs.iter().map(|(_, back)| *back),
        )));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| setup("table params")(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_parses_latest_run_ids_and_dates() {
        assert_eq!("latest".parse::<AsOf>().unwrap(), AsOf::Latest);
        assert_eq!(" LATEST ".parse::<AsOf>().unwrap(), AsOf::Latest);
        let id = "20261125T101112Z-deadbeef";
        assert_eq!(id.parse::<AsOf>().unwrap(), AsOf::Run(id.parse().unwrap()));
        assert_eq!(
            "2026-11-25".parse::<AsOf>().unwrap(),
            AsOf::Date(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap())
        );
        for s in ["latest", id, "2026-11-25"] {
            assert_eq!(s.parse::<AsOf>().unwrap().to_string(), s);
        }
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "20261125T101112Z-DEADBEEF",
            "2026/11/25",
        ] {
            let err = bad.parse::<AsOf>().unwrap_err().to_string();
            assert!(err.contains("expected `latest`"), "{bad}: {err}");
        }
    }

    #[test]
    fn session_config_enables_parquet_pruning() {
        let config = session_config();
        let parquet = &config.options().execution.parquet;
        assert!(parquet.pushdown_filters && parquet.enable_page_index && parquet.pruning);
    }
}
