//! The Athena side of the lake contract, generated from the model's Arrow schemas so it
//! cannot drift from them: `CREATE EXTERNAL TABLE` for every lake table and the
//! `history_<table>` views that keep only committed runs. The files under
//! `queries/athena/` are this module's output, checked by a test (and rewritten by it with
//! `PATCHLAKE_BLESS=1`); the compliance views and reports there are written by hand in the
//! Trino dialect (see `queries/athena/README.md`).
//!
//! Partitioning: Athena sees `dt` as the only partition column, projected as a date
//! (`projection.dt.type = date`), so no crawler or `MSCK REPAIR` is needed. `run_id` is not
//! projected: an `injected` projection would make every query name one run (history views
//! could not read all runs) and an `enum` would need a table update per run. The
//! `history_<table>` views take `run_id` from the object key (`"$path"`) instead, and keep
//! only runs whose `runs` record exists, which is the lake's commit rule.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use patchlake_model::Table;

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

/// Every generated file under `queries/athena/`: (path relative to it, content).
pub fn generated_files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for table in Table::ALL {
        out.push((format!("tables/{}.sql", table.name()), create_table(table)));
        if table != Table::Runs {
            out.push((
                format!("views/10_history_{}.sql", table.name()),
                history_view(table),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lake_column_gets_an_athena_type() {
        for (path, sql) in generated_files() {
            assert!(sql.contains("CREATE"), "{path}");
        }
        let ddl = create_table(Table::Instances);
        assert!(ddl.contains("`account_id` string,"), "{ddl}");
        assert!(ddl.contains("`tags` map<string,string>"), "{ddl}");
        assert!(ddl.contains("dt=${dt}/"), "{ddl}");
        let ddl = create_table(Table::InstancePatches);
        assert!(ddl.contains("`cve_ids` array<string>"), "{ddl}");
    }
}
