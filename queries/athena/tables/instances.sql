-- instances: the lake table as Athena reads it. Generated from patchlake-model's schema by
-- crates/query/src/athena.rs (PATCHLAKE_BLESS=1 cargo test -p patchlake-query); do not edit.
-- Replace s3://LAKE-BUCKET/LAKE-PREFIX with the lake root. Query through history_instances, which
-- adds run_id and keeps committed runs only.
CREATE EXTERNAL TABLE IF NOT EXISTS instances (
    `account_id` string,
    `region` string,
    `instance_id` string,
    `computer_name` string,
    `platform_type` string,
    `platform_name` string,
    `platform_version` string,
    `operating_system` string,
    `agent_version` string,
    `ping_status` string,
    `last_ping_at` timestamp,
    `resource_type` string,
    `ip_address` string,
    `patch_group` string,
    `tags` map<string,string>
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://LAKE-BUCKET/LAKE-PREFIX/instances/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2024-01-01,NOW',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'storage.location.template' = 's3://LAKE-BUCKET/LAKE-PREFIX/instances/dt=${dt}/',
    'parquet.compression' = 'ZSTD'
)
