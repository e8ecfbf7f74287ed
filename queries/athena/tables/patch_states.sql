-- patch_states: the lake table as Athena reads it. Generated from patchlake-model's schema by
-- crates/query/src/athena.rs (PATCHLAKE_BLESS=1 cargo test -p patchlake-query); do not edit.
-- Replace s3://LAKE-BUCKET/LAKE-PREFIX with the lake root. Query through history_patch_states, which
-- adds run_id and keeps committed runs only.
CREATE EXTERNAL TABLE IF NOT EXISTS patch_states (
    `account_id` string,
    `region` string,
    `instance_id` string,
    `patch_group` string,
    `baseline_id` string,
    `snapshot_id` string,
    `operation` string,
    `operation_start_at` timestamp,
    `operation_end_at` timestamp,
    `installed` int,
    `installed_other` int,
    `installed_pending_reboot` int,
    `installed_rejected` int,
    `missing` int,
    `failed` int,
    `not_applicable` int,
    `unreported_not_applicable` int,
    `critical_non_compliant` int,
    `security_non_compliant` int,
    `other_non_compliant` int,
    `reboot_option` string,
    `last_no_reboot_install_at` timestamp
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://LAKE-BUCKET/LAKE-PREFIX/patch_states/'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.range' = '2024-01-01,NOW',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'storage.location.template' = 's3://LAKE-BUCKET/LAKE-PREFIX/patch_states/dt=${dt}/',
    'parquet.compression' = 'ZSTD'
)
