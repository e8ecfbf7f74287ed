-- stale_and_unreported: one row per instance whose patch data cannot be trusted in this run:
-- `unreported` (no patch state at all) or `stale` (last operation ended more than
-- stale_after_days before the run), with when SSM last heard from it and when it last patched.
SELECT
    ic.account_id,
    ic.region,
    ic.instance_id,
    ic.computer_name,
    ic.status,
    ic.ping_status,
    ic.last_ping_at,
    ic.operation,
    ic.operation_end_at,
    ROUND((date_part('epoch', p.run_started_at) - date_part('epoch', ic.operation_end_at))
          / 86400.0, 1) AS days_since_operation,
    ic.platform_name,
    ic.patch_group,
    ic.baseline_id
FROM instance_compliance ic
CROSS JOIN params p
WHERE ic.status IN ('stale', 'unreported')
ORDER BY ic.status, ic.account_id, ic.region, ic.instance_id
