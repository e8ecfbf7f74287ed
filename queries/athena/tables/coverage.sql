-- coverage: the lake table as Athena reads it. Generated from patchlake-model's schema by
-- crates/query/src/athena.rs (PATCHLAKE_BLESS=1 cargo test -p patchlake-query); do not edit.
-- Replace s3://LAKE-BUCKET/LAKE-PREFIX with the lake root. Query through history_coverage, which
-- adds run_id and keeps committed runs only.
CREATE EXTERNAL TABLE IF NOT EXISTS coverage (
    `account_id` string,
    `region` string,
    `status` string,
    `error_code` string,
    `error_message` string,
    `api_calls` bigint,
    `throttled_calls` bigint,
    `retries` bigint,
    `started_at` timestamp,
    `finished_at` timestamp,
    `instances` bigint
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://LAKE-BUCKET/LAKE-PREFIX/coverage/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2024-01-01,NOW',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'storage.location.template' = 's3://LAKE-BUCKET/LAKE-PREFIX/coverage/dt=${dt}/',
    'parquet.compression' = 'ZSTD'
)
