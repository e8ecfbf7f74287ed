-- baselines: the lake table as Athena reads it. Generated from patchlake-model's schema by
-- crates/query/src/athena.rs (PATCHLAKE_BLESS=1 cargo test -p patchlake-query); do not edit.
-- Replace s3://LAKE-BUCKET/LAKE-PREFIX with the lake root. Query through history_baselines, which
-- adds run_id and keeps committed runs only.
CREATE EXTERNAL TABLE IF NOT EXISTS baselines (
    `account_id` string,
    `region` string,
    `baseline_id` string,
    `name` string,
    `description` string,
    `operating_system` string,
    `is_default` boolean,
    `is_aws_owned` boolean,
    `global_filters` array<struct<key:string,values:array<string>>>,
    `approval_rules` array<struct<filters:array<struct<key:string,values:array<string>>>,compliance_level:string,approve_after_days:int,approve_until_date:string,enable_non_security:boolean>>,
    `approved_patches` array<string>,
    `approved_compliance_level` string,
    `enable_non_security` boolean,
    `rejected_patches` array<string>,
    `rejected_patches_action` string,
    `created_at` timestamp,
    `modified_at` timestamp
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://LAKE-BUCKET/LAKE-PREFIX/baselines/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2024-01-01,NOW',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'storage.location.template' = 's3://LAKE-BUCKET/LAKE-PREFIX/baselines/dt=${dt}/',
    'parquet.compression' = 'ZSTD'
)
