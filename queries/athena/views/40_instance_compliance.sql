-- instance_compliance (Athena twin of queries/views/instance_compliance.sql): the latest
-- committed run's rows of history_instance_compliance, without the run columns (Trino has
-- no SELECT * EXCLUDE, so they are listed). For an earlier run, query
-- history_instance_compliance WHERE run_id = '...'.
CREATE OR REPLACE VIEW instance_compliance AS
SELECT
    account_id,
    region,
    instance_id,
    computer_name,
    platform_type,
    platform_name,
    platform_version,
    operating_system,
    ping_status,
    last_ping_at,
    resource_type,
    is_inactive,
    patch_group,
    baseline_id,
    baseline_source,
    baseline_name,
    baseline_operating_system,
    reported_baseline_id,
    status,
    has_patch_state,
    baseline_drift,
    operation,
    operation_start_at,
    operation_end_at,
    installed,
    installed_other,
    installed_pending_reboot,
    installed_rejected,
    missing,
    failed,
    not_applicable,
    critical_non_compliant,
    security_non_compliant,
    other_non_compliant
FROM history_instance_compliance
WHERE runs_back = 0
