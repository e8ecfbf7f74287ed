-- instance_patches: the lake table as Athena reads it. Generated from patchlake-model's schema by
-- crates/query/src/athena.rs (PATCHLAKE_BLESS=1 cargo test -p patchlake-query); do not edit.
-- Replace s3://LAKE-BUCKET/LAKE-PREFIX with the lake root. Query through history_instance_patches, which
-- adds run_id and keeps committed runs only.
CREATE EXTERNAL TABLE IF NOT EXISTS instance_patches (
    `account_id` string,
    `region` string,
    `instance_id` string,
    `title` string,
    `kb_id` string,
    `classification` string,
    `severity` string,
    `state` string,
    `installed_at` timestamp,
    `cve_ids` array<string>
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://LAKE-BUCKET/LAKE-PREFIX/instance_patches/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2024-01-01,NOW',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'storage.location.template' = 's3://LAKE-BUCKET/LAKE-PREFIX/instance_patches/dt=${dt}/',
    'parquet.compression' = 'ZSTD'
)
