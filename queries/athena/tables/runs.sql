-- runs: the lake table as Athena reads it. Generated from patchlake-model's schema by
-- crates/query/src/athena.rs (PATCHLAKE_BLESS=1 cargo test -p patchlake-query); do not edit.
-- Replace s3://LAKE-BUCKET/LAKE-PREFIX with the lake root. Query through history_runs, which
-- adds run_id and keeps committed runs only.
CREATE EXTERNAL TABLE IF NOT EXISTS runs (
    `started_at` timestamp,
    `finished_at` timestamp,
    `tool_version` string,
    `config_sha256` string,
    `accounts` int,
    `regions` int,
    `tasks_ok` int,
    `tasks_partial` int,
    `tasks_failed` int,
    `row_counts` map<string,bigint>,
    `files` array<struct<table:string,path:string,rows:bigint,bytes:bigint,sha256:string>>
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://LAKE-BUCKET/LAKE-PREFIX/runs/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2024-01-01,NOW',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'storage.location.template' = 's3://LAKE-BUCKET/LAKE-PREFIX/runs/dt=${dt}/',
    'parquet.compression' = 'ZSTD'
)
