//! The Athena side of the lake contract, generated from the model's Arrow schemas so it
//! cannot drift from them: `CREATE EXTERNAL TABLE` for every lake table and the
//! `history_<table>` views that keep only committed runs. The files under
//! `queries/athena/` are this module's output, checked by a test (and rewritten by it with
//! `PATCHLAKE_BLESS=1`). The compliance views and the reports Athena gets are derived from
//! their DataFusion SQL in `queries/` by the few dialect rewrites in [`to_athena`]; only the
//! parameter and committed-run views (`00`, `05`, `20`), which DataFusion builds in Rust, are
//! written by hand (see `queries/athena/README.md`).
//!
//! Partitioning: Athena sees `dt` as the only partition column, projected as a date
//! (`projection.dt.type = date`), so no crawler or `MSCK REPAIR` is needed. `run_id` is not
//! projected: an `injected` projection would make every query name one run (history views
//! could not read all runs) and an `enum` would need a table update per run. The
//! `history_<table>` views take `run_id` from the object key (`"$path"`) instead, and keep
//! only runs whose `runs` record exists, which is the lake's commit rule.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::execution::context::SessionContext;
use patchlake_model::Table;

use crate::{Error, Result, reports};

/// Where the lake is in the generated DDL; replace it with the lake's `s3://bucket/prefix`.
pub const LAKE_PLACEHOLDER: &str = "s3://LAKE-BUCKET/LAKE-PREFIX";

/// The Trino expression that reads a row's `run_id` from its object key.
pub fn run_id_from_path(alias: &str) -> String {
    format!("regexp_extract({alias}.\"$path\", 'run_id=([^/]+)/', 1)")
}

/// The Hive DDL type Athena reads an Arrow column as.
pub fn hive_type(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Millisecond, _) => "timestamp".into(),
        DataType::List(f) | DataType::LargeList(f) => {
            format!("array<{}>", hive_type(f.data_type()))
        }
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                hive_type(kv[0].data_type()),
                hive_type(kv[1].data_type())
            ),
            other => panic!("map entries of type {other} in the lake schema"),
        },
        other => panic!("no Athena type for {other} in the lake schema"),
    }
}

/// `CREATE EXTERNAL TABLE` for `table`, with `dt` projected as a date.
pub fn create_table(table: Table) -> String {
    let name = table.name();
    let columns = table
        .schema()
        .fields()
        .iter()
        .map(|f| format!("    `{}` {}", f.name(), hive_type(f.data_type())))
        .collect::<Vec<_>>()
        .join(",\n");
    format!(
        "-- {name}: the lake table as Athena reads it. Generated from patchlake-model's schema by\n\
         -- crates/query/src/athena.rs (PATCHLAKE_BLESS=1 cargo test -p patchlake-query); do not edit.\n\
         -- Replace {LAKE_PLACEHOLDER} with the lake root. Query through history_{name}, which\n\
         -- adds run_id and keeps committed runs only.\n\
         CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{columns}\n)\n\
         PARTITIONED BY (`dt` string)\n\
         STORED AS PARQUET\n\
         LOCATION '{LAKE_PLACEHOLDER}/{name}/'\n\
         TBLPROPERTIES (\n    \
         'projection.enabled' = 'true',\n    \
         'projection.dt.type' = 'date',\n    \
         'projection.dt.format' = 'yyyy-MM-dd',\n    \
         'projection.dt.range' = '2024-01-01,NOW',\n    \
         'projection.dt.interval' = '1',\n    \
         'projection.dt.interval.unit' = 'DAYS',\n    \
         'storage.location.template' = '{LAKE_PLACEHOLDER}/{name}/dt=${{dt}}/',\n    \
         'parquet.compression' = 'ZSTD'\n)\n"
    )
}

/// First and last lines of the generated block of `AWS::Glue::Table` resources in
/// `infra/template.yaml` ([`glue_tables_cfn`]).
pub const CFN_BEGIN: &str =
    "  # BEGIN generated Glue tables (crates/query/src/athena.rs; PATCHLAKE_BLESS=1 rewrites)";
pub const CFN_END: &str = "  # END generated Glue tables";

/// The hub template's Glue tables: the same tables, columns and partition projection as
/// [`create_table`], as CloudFormation resources over the stack's lake bucket (`LakeBucket`,
/// prefix `lake/`) in the stack's Glue database (`LakeDatabase`), between [`CFN_BEGIN`]
/// and [`CFN_END`].
pub fn glue_tables_cfn() -> String {
    let mut out = format!("{CFN_BEGIN}\n");
    for table in Table::ALL {
        let name = table.name();
        let resource: String = name
            .split('_')
            .map(|w| w[..1].to_uppercase() + &w[1..])
            .collect();
        let columns: String = table
            .schema()
            .fields()
            .iter()
            .map(|f| {
                format!(
                    "            - {{ Name: {}, Type: \"{}\" }}\n",
                    f.name(),
                    hive_type(f.data_type())
                )
            })
            .collect();
        out.push_str(&format!(
            "  {resource}Table:\n    \
             Type: AWS::Glue::Table\n    \
             Properties:\n      \
             CatalogId: !Ref AWS::AccountId\n      \
             DatabaseName: !Ref LakeDatabase\n      \
             TableInput:\n        \
             Name: {name}\n        \
             Description: \"patchlake lake table {name}; query the history_{name} view (committed runs only)\"\n        \
             TableType: EXTERNAL_TABLE\n        \
             PartitionKeys:\n          \
             - {{ Name: dt, Type: string }}\n        \
             Parameters:\n          \
             EXTERNAL: \"TRUE\"\n          \
             classification: parquet\n          \
             parquet.compression: ZSTD\n          \
             projection.enabled: \"true\"\n          \
             projection.dt.type: date\n          \
             projection.dt.format: yyyy-MM-dd\n          \
             projection.dt.range: \"2024-01-01,NOW\"\n          \
             projection.dt.interval: \"1\"\n          \
             projection.dt.interval.unit: DAYS\n          \
             storage.location.template: !Sub \"s3://${{LakeBucket}}/lake/{name}/dt=${{!dt}}/\"\n        \
             StorageDescriptor:\n          \
             Location: !Sub \"s3://${{LakeBucket}}/lake/{name}/\"\n          \
             InputFormat: org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat\n          \
             OutputFormat: org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat\n          \
             SerdeInfo:\n            \
             SerializationLibrary: org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe\n          \
             Columns:\n{columns}\n"
        ));
    }
    out.push_str(CFN_END);
    out.push('\n');
    out
}

/// `history_<table>`: every committed run's rows, with `dt` and `run_id` last, as the
/// DataFusion table of the same name.
pub fn history_view(table: Table) -> String {
    let name = table.name();
    let columns: String = table
        .schema()
        .fields()
        .iter()
        .map(|f| format!("    t.{},\n", f.name()))
        .collect();
    let run_id = run_id_from_path("t");
    format!(
        "-- history_{name}: {name} rows of committed runs only (a run is committed when its runs\n\
         -- record exists), with run_id read from the object key. Generated by\n\
         -- crates/query/src/athena.rs; do not edit.\n\
         CREATE OR REPLACE VIEW history_{name} AS\n\
         SELECT\n{columns}    t.dt,\n    {run_id} AS run_id\n\
         FROM {name} t\n\
         WHERE {run_id} IN (SELECT run_id FROM committed_runs)\n"
    )
}

/// `latest_<table>`: the latest committed run's rows of `table`, without the run columns:
/// what the DataFusion reports call `<table>` (the selected run's rows).
pub fn latest_view(table: Table) -> String {
    let name = table.name();
    let columns = table
        .schema()
        .fields()
        .iter()
        .map(|f| format!("    t.{}", f.name()))
        .collect::<Vec<_>>()
        .join(",\n");
    format!(
        "-- latest_{name}: {name} rows of the latest committed run, without the run columns: the\n\
         -- table the DataFusion reports call {name}. Generated by crates/query/src/athena.rs;\n\
         -- do not edit.\n\
         CREATE OR REPLACE VIEW latest_{name} AS\n\
         SELECT\n{columns}\n\
         FROM history_{name} t\n\
         JOIN history_params hp\n    \
         ON hp.run_id = t.run_id\n   \
         AND hp.runs_back = 0\n"
    )
}

/// The reports Athena gets as views, derived from `queries/<name>.sql`: every report. Their
/// SQL is in the common subset of DataFusion and Trino apart from the rewrites of
/// [`to_athena`], which refuses a report that leaves it.
pub const ATHENA_REPORTS: [&str; 11] = [
    "compliance_by_patch_group",
    "compliance_by_baseline",
    "compliance_by_operating_system",
    "compliance_by_account_region",
    "missing_critical_patches",
    "cve_exposure",
    "stale_and_unreported",
    "baseline_drift",
    "maintenance_window_context",
    "compliance_trend",
    "days_missing",
];

/// Functions that exist in Trino (Athena engine 3) with the meaning DataFusion gives them, for
/// the argument types the queries pass: aggregates, window functions, `COALESCE`/`NULLIF`,
/// `FLOOR`, `ROUND(double, n)` (both round half away from zero from `x * 10^n`), `UPPER`.
/// Any other function call is refused: add one here only after checking both dialects.
/// (`date_part('epoch', ...)` and select-list `UNNEST` are rewritten, not listed.)
pub const TRINO_FUNCTIONS: &[&str] = &[
    "COUNT",
    "SUM",
    "MIN",
    "MAX",
    "AVG",
    "COALESCE",
    "NULLIF",
    "CAST",
    "FLOOR",
    "ROUND",
    "UPPER",
    "LOWER",
    "ROW_NUMBER",
    "RANK",
    "DENSE_RANK",
];

/// Words that may precede `(` without being a function call.
const KEYWORDS_BEFORE_PAREN: &[&str] = &[
    "AS", "IN", "OVER", "FILTER", "AND", "OR", "NOT", "FROM", "JOIN", "ON", "EXISTS", "WHEN",
    "THEN", "ELSE", "SELECT", "WHERE", "HAVING", "BY", "USING", "VALUES", "ALL", "ANY", "DISTINCT",
    "EXCLUDE",
];

/// Clause words that end a `FROM <relation> [alias]`.
const CLAUSE_WORDS: &[&str] = &[
    "WHERE", "GROUP", "ORDER", "HAVING", "LIMIT", "UNION", "WINDOW",
];

/// A DataFusion view or report and the Athena view derived from it.
#[derive(Clone, Debug)]
pub struct Derived {
    /// The view's name in both dialects.
    pub name: &'static str,
    /// The DataFusion SQL's file under `queries/`.
    pub source_file: String,
    /// The Athena view's file under `queries/athena/`.
    pub athena_file: String,
    pub sql: &'static str,
    /// A `CREATE VIEW` statement (else a bare query: a report).
    pub is_view: bool,
}

/// Every DataFusion view and [`ATHENA_REPORTS`] report, in Athena install order.
pub fn derived() -> Vec<Derived> {
    let views = reports::VIEWS.iter().map(|v| {
        let (source_file, athena_file) = match v.name {
            "history_instance_compliance" => (
                "views/history_instance_compliance.sql",
                "views/30_history_instance_compliance.sql",
            ),
            "instance_compliance" => (
                "views/instance_compliance.sql",
                "views/40_instance_compliance.sql",
            ),
            other => panic!("view {other} has no Athena file name"),
        };
        Derived {
            name: v.name,
            source_file: source_file.to_owned(),
            athena_file: athena_file.to_owned(),
            sql: v.sql,
            is_view: true,
        }
    });
    let reports = ATHENA_REPORTS.iter().map(|name| {
        let report = reports::find_report(name).expect("ATHENA_REPORTS are reports");
        Derived {
            name: report.name,
            source_file: format!("{name}.sql"),
            athena_file: format!("views/50_{name}.sql"),
            sql: report.sql,
            is_view: false,
        }
    });
    views.chain(reports).collect()
}

/// A lexical token of SQL text: an identifier or keyword (`[A-Za-z0-9_$]+`) or one
/// character of punctuation; comments, string literals and quoted identifiers are skipped.
#[derive(Clone, Copy, Debug)]
struct Token {
    start: usize,
    end: usize,
    word: bool,
}

fn tokens(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
        } else if b == b'\'' || b == b'"' {
            let close = sql[i + 1..]
                .find(b as char)
                .map_or(bytes.len(), |n| i + 1 + n);
            out.push(Token {
                start: i,
                end: (close + 1).min(bytes.len()),
                word: false,
            });
            i = close + 1;
        } else if is_word(b) {
            let start = i;
            while i < bytes.len() && is_word(bytes[i]) {
                i += 1;
            }
            out.push(Token {
                start,
                end: i,
                word: true,
            });
        } else {
            out.push(Token {
                start: i,
                end: i + 1,
                word: false,
            });
            i += 1;
        }
    }
    out
}

/// The Athena (Trino) view of a DataFusion view or report. `columns` are the names of the
/// DataFusion view's output columns (needed for `SELECT * EXCLUDE`). The rewrites, and the
/// only differences between the dialects in this SQL:
/// 1. the selected run's tables (`FROM instance_patches p`) read `latest_<table>`: Athena's
///    bare table names are the raw external tables of every run;
/// 2. `x < p.stale_before` compares epoch seconds, `to_unixtime(x) < to_unixtime(p.run_started_at)
///    - 86400 * CAST(p.stale_after_days AS DOUBLE)`: Athena's `history_params` has no
///    `stale_before` (Trino and DataFusion share no interval arithmetic);
/// 3. `SELECT * EXCLUDE (...)` lists the remaining columns (Trino has no `EXCLUDE`);
/// 4. `date_part('epoch', x)` becomes `to_unixtime(x)` (epoch seconds as a double in both;
///    Trino has no `date_part`);
/// 5. a select-list item `UNNEST(<column>) AS <name>` of a query over one relation becomes
///    `u.<name>`, with `CROSS JOIN UNNEST(<column>) AS u(<name>)` after the relation: Trino
///    unnests only in `FROM`, and both forms drop the rows whose list is NULL or empty;
/// 6. `CREATE VIEW` becomes `CREATE OR REPLACE VIEW`, and a report becomes a view of its name.
///
/// Anything else DataFusion-only that it meets (`params`, the selected run's `runs`, `::`
/// casts, another `UNNEST`, `date_part` or `EXCLUDE`, `stale_before`, a function not in
/// [`TRINO_FUNCTIONS`]) is an error naming the file.
pub fn to_athena(d: &Derived, columns: &[String]) -> Result<String> {
    let fail = |detail: String| Error::Athena {
        view: d.name.to_owned(),
        source_file: d.source_file.clone(),
        detail,
    };
    let sql = d.sql;
    let toks = tokens(sql);
    let text = |t: &Token| &sql[t.start..t.end];
    let is = |i: usize, word: &str| {
        toks.get(i)
            .is_some_and(|t| text(t).eq_ignore_ascii_case(word))
    };
    // (start, end, replacement), non-overlapping.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut applied: Vec<&str> = Vec::new();
    let mut note = |a: &'static str| {
        if !applied.contains(&a) {
            applied.push(a);
        }
    };
    // The FROM tokens that got a CROSS JOIN UNNEST: one per select list.
    let mut unnested_from: Vec<usize> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let word = text(t);
        let after_from = i > 0
            && toks[i - 1].word
            && ["from", "join"].contains(&text(&toks[i - 1]).to_ascii_lowercase().as_str());
        if t.word && after_from {
            if word == "params" || word == Table::Runs.name() {
                return Err(fail(format!(
                    "reads `{word}`, the selected run's row; Athena has only history_params and \
                     committed_runs (join them on runs_back = 0)"
                )));
            }
            if Table::DATA.iter().any(|table| table.name() == word) {
                edits.push((t.start, t.end, format!("latest_{word}")));
                note("the selected run's tables read as latest_<table>");
            }
        }
        if t.word && word == "stale_before" {
            // <lhs> < <alias>.stale_before, with lhs = <alias>.<column>
            let ok = i >= 6
                && text(&toks[i - 1]) == "."
                && toks[i - 2].word
                && text(&toks[i - 3]) == "<"
                && toks[i - 4].word
                && text(&toks[i - 5]) == "."
                && toks[i - 6].word;
            if !ok {
                return Err(fail(
                    "uses stale_before other than as `<alias>.<column> < <alias>.stale_before`"
                        .to_owned(),
                ));
            }
            let p = text(&toks[i - 2]);
            let lhs = &sql[toks[i - 6].start..toks[i - 4].end];
            edits.push((
                toks[i - 6].start,
                t.end,
                format!(
                    "to_unixtime({lhs})\n             < to_unixtime({p}.run_started_at) - 86400 * CAST({p}.stale_after_days AS DOUBLE)"
                ),
            ));
            note(
                "staleness compared in epoch seconds (Athena's history_params has no stale_before)",
            );
        }
        if t.word && word.eq_ignore_ascii_case("EXCLUDE") {
            let star = i >= 2
                && text(&toks[i - 1]) == "*"
                && text(&toks[i - 2]).eq_ignore_ascii_case("SELECT");
            let close = toks[i..].iter().find(|t| text(t) == ")");
            let (true, Some(close)) = (star, close) else {
                return Err(fail(
                    "uses EXCLUDE other than as `SELECT * EXCLUDE (...)`".to_owned(),
                ));
            };
            if columns.is_empty() {
                return Err(fail("SELECT * EXCLUDE needs the view's columns".to_owned()));
            }
            let list = columns
                .iter()
                .map(|c| format!("    {c}"))
                .collect::<Vec<_>>()
                .join(",\n");
            edits.push((toks[i - 2].start, close.end, format!("SELECT\n{list}")));
            note("SELECT * EXCLUDE spelled out (Trino has no EXCLUDE)");
        }
        if t.word && word.eq_ignore_ascii_case("date_part") {
            // date_part('epoch', <x>) → to_unixtime(<x>)
            let epoch = is(i + 1, "(") && is(i + 2, "'epoch'") && is(i + 3, ",");
            let Some(next) = toks.get(i + 4).filter(|_| epoch) else {
                return Err(fail(
                    "uses date_part other than as `date_part('epoch', ...)`; Trino has no \
                     date_part (compare epoch seconds, or add a tested rewrite)"
                        .to_owned(),
                ));
            };
            edits.push((t.start, next.start, "to_unixtime(".to_owned()));
            note("date_part('epoch', x) as to_unixtime(x)");
        }
        if t.word
            && word.eq_ignore_ascii_case("UNNEST")
            && !(i > 0 && text(&toks[i - 1]).eq_ignore_ascii_case("JOIN"))
        {
            let (item, from, insert_at, lateral) =
                select_list_unnest(sql, &toks, i).map_err(|why| {
                    fail(format!(
                        "uses UNNEST outside `CROSS JOIN UNNEST(...)`, which Trino requires, \
                         and not as a rewritable select-list item: {why}"
                    ))
                })?;
            if unnested_from.contains(&from) {
                return Err(fail(
                    "has more than one UNNEST in a select list (DataFusion zips them, a CROSS \
                     JOIN per list would multiply them)"
                        .to_owned(),
                ));
            }
            unnested_from.push(from);
            edits.push(item);
            edits.push((insert_at, insert_at, lateral));
            note("select-list UNNEST as CROSS JOIN UNNEST (Trino unnests only in FROM)");
        }
        if t.word
            && is(i + 1, "(")
            && !(i > 0 && text(&toks[i - 1]) == ".")
            && !["DATE_PART", "UNNEST"]
                .iter()
                .chain(KEYWORDS_BEFORE_PAREN)
                .chain(TRINO_FUNCTIONS)
                .any(|k| word.eq_ignore_ascii_case(k))
        {
            return Err(fail(format!(
                "calls `{word}`, which is not in athena::TRINO_FUNCTIONS (functions known to mean \
                 the same in Trino)"
            )));
        }
        if text(t) == ":" && toks.get(i + 1).is_some_and(|n| text(n) == ":") {
            return Err(fail("uses a `::` cast; write CAST(... AS ...)".to_owned()));
        }
    }
    if !unnested_from.is_empty() && toks.iter().any(|t| text(t) == "u") {
        return Err(fail(
            "names something `u`, the alias the UNNEST rewrite gives its relation".to_owned(),
        ));
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(sql.len() + 512);
    let mut at = 0;
    for (start, end, with) in &edits {
        if *start < at {
            return Err(fail("overlapping rewrites".to_owned()));
        }
        out.push_str(&sql[at..*start]);
        out.push_str(with);
        at = *end;
    }
    out.push_str(&sql[at..]);
    let name = d.name;
    if d.is_view {
        let create = format!("CREATE VIEW {name} AS");
        if out.matches(&create).count() != 1 {
            return Err(fail(format!("has no single `{create}`")));
        }
        out = out.replacen(&create, &format!("CREATE OR REPLACE VIEW {name} AS"), 1);
    } else {
        // After the leading comment block.
        let mut offset = 0;
        for line in out.split_inclusive('\n') {
            let l = line.trim();
            if !(l.is_empty() || l.starts_with("--")) {
                break;
            }
            offset += line.len();
        }
        out.insert_str(offset, &format!("CREATE OR REPLACE VIEW {name} AS\n"));
    }
    let mut header = format!(
        "-- {name}: Athena (Trino) view generated from\n\
         -- queries/{} by crates/query/src/athena.rs; do not edit\n\
         -- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates).",
        d.source_file
    );
    if !d.is_view {
        header.push_str(" Over the latest committed run.");
    }
    for a in &applied {
        header.push_str(&format!("\n-- Rewritten: {a}."));
    }
    Ok(format!("{header}\n{out}"))
}

/// The select-list `UNNEST(<column>) AS <name>` starting at token `i`, as rewrite 5 of
/// [`to_athena`]: (the edit of the item, the index of its `FROM` token, where the relation and
/// its alias end, the `CROSS JOIN UNNEST` to insert there), or why it is not one.
#[allow(clippy::type_complexity)]
fn select_list_unnest(
    sql: &str,
    toks: &[Token],
    i: usize,
) -> std::result::Result<((usize, usize, String), usize, usize, String), String> {
    let text = |j: usize| toks.get(j).map_or("", |t| &sql[t.start..t.end]);
    let word = |j: usize| toks.get(j).is_some_and(|t| t.word);
    let is = |j: usize, w: &str| text(j).eq_ignore_ascii_case(w);
    if !(i > 0 && (is(i - 1, "SELECT") || is(i - 1, ","))) {
        return Err("it does not start a select-list item".to_owned());
    }
    // UNNEST ( <column> | <alias> . <column> ) AS <name> followed by `,` or FROM
    let arg_end = if word(i + 2) && is(i + 3, ")") {
        i + 3
    } else if word(i + 2) && is(i + 3, ".") && word(i + 4) && is(i + 5, ")") {
        i + 5
    } else {
        return Err("its argument is not a column".to_owned());
    };
    if !(is(i + 1, "(") && is(arg_end + 1, "AS") && word(arg_end + 2)) {
        return Err("it has no `AS <name>`".to_owned());
    }
    let name_at = arg_end + 2;
    if !(is(name_at + 1, ",") || is(name_at + 1, "FROM")) {
        return Err("it is part of a larger expression".to_owned());
    }
    // The FROM of this select list, at its parenthesis depth.
    let mut depth = 0usize;
    let mut from = None;
    for j in name_at + 1..toks.len() {
        match text(j) {
            "(" => depth += 1,
            ")" if depth == 0 => break,
            ")" => depth -= 1,
            _ if depth == 0 && is(j, "FROM") => {
                from = Some(j);
                break;
            }
            _ => {}
        }
    }
    let from = from.ok_or("its select list has no FROM")?;
    let relation = from + 1;
    if !word(relation) {
        return Err("it selects from a subquery".to_owned());
    }
    let ends =
        |j: usize| j >= toks.len() || text(j) == ")" || CLAUSE_WORDS.iter().any(|w| is(j, w));
    let mut end = relation;
    if !ends(end + 1) && is(end + 1, "AS") && word(end + 2) {
        end += 2;
    } else if !ends(end + 1) && word(end + 1) && !is(end + 1, "AS") {
        end += 1;
    }
    let known_words = ["JOIN", "CROSS", "LEFT", "RIGHT", "INNER", "FULL", "ON"];
    if !ends(end + 1) || known_words.iter().any(|w| is(end, w)) {
        return Err("its FROM holds more than one relation".to_owned());
    }
    let column = &sql[toks[i + 2].start..toks[arg_end - 1].end];
    let name = text(name_at);
    let line_start = sql[..toks[from].start].rfind('\n').map_or(0, |n| n + 1);
    let indent: String = sql[line_start..toks[from].start]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    Ok((
        (toks[i].start, toks[name_at].end, format!("u.{name}")),
        from,
        toks[end].end,
        format!("\n{indent}CROSS JOIN UNNEST({column}) AS u({name})"),
    ))
}

/// The Athena views derived from DataFusion SQL: (path under `queries/athena/`, content).
pub async fn derived_files() -> Result<Vec<(String, String)>> {
    let ctx = crate::schema_context().await?;
    let mut out = Vec::new();
    for d in derived() {
        let columns = output_columns(&ctx, &d).await?;
        out.push((d.athena_file.clone(), to_athena(&d, &columns)?));
    }
    Ok(out)
}

async fn output_columns(ctx: &SessionContext, d: &Derived) -> Result<Vec<String>> {
    let fail = |e: datafusion::error::DataFusionError| Error::Athena {
        view: d.name.to_owned(),
        source_file: d.source_file.clone(),
        detail: format!("resolving its columns: {e}"),
    };
    let frame = if d.is_view {
        ctx.table(d.name).await.map_err(fail)?
    } else {
        ctx.sql(d.sql).await.map_err(fail)?
    };
    Ok(frame
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

/// Every generated file under `queries/athena/`: (path relative to it, content).
pub async fn generated_files() -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for table in Table::ALL {
        out.push((format!("tables/{}.sql", table.name()), create_table(table)));
        if table != Table::Runs {
            out.push((
                format!("views/10_history_{}.sql", table.name()),
                history_view(table),
            ));
            out.push((
                format!("views/25_latest_{}.sql", table.name()),
                latest_view(table),
            ));
        }
    }
    out.extend(derived_files().await?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_lake_column_gets_an_athena_type() {
        for (path, sql) in generated_files().await.unwrap() {
            assert!(sql.contains("CREATE"), "{path}");
        }
        let ddl = create_table(Table::Instances);
        assert!(ddl.contains("`account_id` string,"), "{ddl}");
        assert!(ddl.contains("`tags` map<string,string>"), "{ddl}");
        assert!(ddl.contains("dt=${dt}/"), "{ddl}");
        let ddl = create_table(Table::InstancePatches);
        assert!(ddl.contains("`cve_ids` array<string>"), "{ddl}");
    }

    fn report(sql: &'static str) -> Derived {
        Derived {
            name: "r",
            source_file: "r.sql".to_owned(),
            athena_file: "views/50_r.sql".to_owned(),
            sql,
            is_view: false,
        }
    }

    /// The SQL of the derived view, without its header comments and `CREATE` line.
    fn body(sql: &'static str) -> String {
        let out = to_athena(&report(sql), &[]).unwrap();
        out.split_once("CREATE OR REPLACE VIEW r AS\n")
            .unwrap()
            .1
            .to_owned()
    }

    #[test]
    fn epoch_seconds_are_read_with_to_unixtime() {
        assert_eq!(
            body("SELECT date_part('epoch', p.a) - date_part( 'EPOCH' ,\n p.b) AS s FROM t p"),
            "SELECT to_unixtime(p.a) - to_unixtime(p.b) AS s FROM t p"
        );
        let err = to_athena(&report("SELECT date_part('day', p.a) AS d FROM t p"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("date_part") && err.contains("r.sql"), "{err}");
    }

    #[test]
    fn a_select_list_unnest_becomes_a_cross_join_unnest() {
        assert_eq!(
            body(
                "WITH g AS (\n    SELECT\n        w.id,\n        UNNEST(w.groups) AS grp,\n        \
                 w.name\n    FROM maintenance_windows w\n    WHERE w.enabled\n)\nSELECT * FROM g"
            ),
            "WITH g AS (\n    SELECT\n        w.id,\n        u.grp,\n        w.name\n    \
             FROM latest_maintenance_windows w\n    CROSS JOIN UNNEST(w.groups) AS u(grp)\n    \
             WHERE w.enabled\n)\nSELECT * FROM g"
        );
        // First in the list, no alias, at the end of a CTE and at the end of the text.
        assert_eq!(
            body("WITH c AS (SELECT UNNEST(ids) AS id, k FROM o) SELECT * FROM c"),
            "WITH c AS (SELECT u.id, k FROM o\nCROSS JOIN UNNEST(ids) AS u(id)) SELECT * FROM c"
        );
        assert_eq!(
            body("SELECT UNNEST(ids) AS id FROM o AS x"),
            "SELECT u.id FROM o AS x\nCROSS JOIN UNNEST(ids) AS u(id)"
        );
    }

    #[test]
    fn functions_outside_the_common_subset_are_refused() {
        for (sql, name) in [
            ("SELECT array_has(t.a, 'x') AS h FROM t", "array_has"),
            (
                "SELECT t.a FROM t WHERE starts_with(t.a, 'x')",
                "starts_with",
            ),
            (
                "SELECT COUNT(*) AS n, to_char(t.a, '%Y') AS y FROM t",
                "to_char",
            ),
        ] {
            let err = to_athena(&report(sql), &[]).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{name}`")) && err.contains("r.sql"),
                "{err}"
            );
        }
        // Keywords before a parenthesis are not calls, nor are the known functions.
        body(
            "WITH a AS (SELECT t.k FROM t) SELECT COUNT(*) FILTER (WHERE a.k IN (1)) AS n, \
             DENSE_RANK() OVER (ORDER BY a.k) AS r FROM a WHERE NOT (a.k = 2) AND (a.k > 0)",
        );
    }
}
