-- stale_and_unreported: one row per instance whose patch data cannot be trusted in this run:
-- `unreported` (no patch state at all) or `stale` (last operation ended more than
-- stale_after_days before the run), with when SSM last heard from it and when it last patched.
-- Listed apart, after them: the `inactive` instances (PingStatus ConnectionLost: EC2 stopped
-- or agent unreachable; Inactive: terminated or deregistered) that every compliance report
-- leaves out of its counts and counts apart while exclude_inactive is on (the default), so
-- each instance missing from those counts is named here. `patch_data` says what is known of
-- an instance's patches whatever its status: none (no patch state), stale, or current.
-- The selected run's parameters are history_params' runs_back 0 row (the params table
-- has no Athena twin).
SELECT
    ic.account_id,
    ic.region,
    ic.instance_id,
    ic.computer_name,
    ic.status,
    ic.ping_status,
    CASE ic.ping_status
        WHEN 'ConnectionLost' THEN 'stopped or unreachable'
        WHEN 'Inactive' THEN 'terminated or deregistered'
    END AS inactive_reason,
    ic.last_ping_at,
    ROUND((date_part('epoch', p.run_started_at) - date_part('epoch', ic.last_ping_at))
          / 86400.0, 1) AS days_since_ping,
    CASE
        WHEN NOT ic.has_patch_state THEN 'none'
        WHEN ic.operation_end_at < p.stale_before THEN 'stale'
        ELSE 'current'
    END AS patch_data,
    ic.operation,
    ic.operation_end_at,
    ROUND((date_part('epoch', p.run_started_at) - date_part('epoch', ic.operation_end_at))
          / 86400.0, 1) AS days_since_operation,
    ic.platform_name,
    ic.patch_group,
    ic.baseline_id
FROM instance_compliance ic
JOIN history_params p
    ON p.runs_back = 0
WHERE ic.status IN ('stale', 'unreported', 'inactive')
ORDER BY
    CASE ic.status WHEN 'inactive' THEN 1 ELSE 0 END,
    ic.status, ic.account_id, ic.region, ic.instance_id
