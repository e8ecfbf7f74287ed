-- history_instance_compliance: Athena (Trino) view generated from
-- queries/views/history_instance_compliance.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates).
-- Rewritten: staleness compared in epoch seconds (Athena's history_params has no stale_before).
-- history_instance_compliance: THE compliance definition (documented in
-- views/instance_compliance.sql and queries/README.md), applied to every committed run, each
-- with its own run_started_at (table history_params), plus run_id, dt and runs_back.
-- instance_compliance is this view's selected run (runs_back = 0); trend and remediation
-- reports select from it directly.
--
-- One row per managed instance (table `instances`) of the selected run.
--   baseline_id      the effective baseline: the patch group registration matching the
--                    instance's (account_id, region, patch_group, operating_system), else the
--                    account-region's default baseline for the instance's operating_system
--   baseline_source  'patch_group', 'default', or NULL when neither exists
--   status           the first that applies:
--                      inactive       ping_status 'ConnectionLost' (EC2 stopped, or agent
--                                     unreachable) or 'Inactive' (terminated or
--                                     deregistered), when params.exclude_inactive (default
--                                     true); counted apart by every report
--                      unreported     the instance has no patch state
--                      stale          operation_end_at < run_started_at - stale_after_days
--                      non_compliant  missing + failed
--                                     + installed_pending_reboot (if pending_reboot_non_compliant,
--                                       default true)
--                                     + installed_rejected (if rejected_non_compliant,
--                                       default false) > 0
--                      compliant      otherwise
--   reported_baseline_id  the baseline the patch state reports
--   baseline_drift   the instance has a patch state and it reports another baseline than the
--                    effective one
-- `params` is the one-row table of report parameters (run_id, run_started_at,
-- stale_after_days, stale_before = run_started_at - stale_after_days, and the status flags).
-- views/history_instance_compliance.sql applies the same definition to every committed run;
-- a test keeps the two equal run by run.
CREATE OR REPLACE VIEW history_instance_compliance AS
WITH registration AS (
    -- SSM allows one baseline per (patch group, operating system); MIN guards against
    -- duplicates fanning out instances.
    SELECT run_id, account_id, region, patch_group, operating_system, MIN(baseline_id) AS baseline_id
    FROM history_patch_groups
    GROUP BY run_id, account_id, region, patch_group, operating_system
),
default_baseline AS (
    SELECT run_id, account_id, region, operating_system, MIN(baseline_id) AS baseline_id
    FROM history_baselines
    WHERE is_default
    GROUP BY run_id, account_id, region, operating_system
),
baseline AS (
    SELECT run_id, account_id, region, baseline_id,
           MIN(name) AS name, MIN(operating_system) AS operating_system
    FROM history_baselines
    GROUP BY run_id, account_id, region, baseline_id
),
effective AS (
    SELECT
        i.run_id,
        i.account_id,
        i.region,
        i.instance_id,
        i.computer_name,
        i.platform_type,
        i.platform_name,
        i.platform_version,
        i.operating_system,
        i.ping_status,
        i.last_ping_at,
        i.resource_type,
        i.patch_group,
        COALESCE(r.baseline_id, d.baseline_id) AS baseline_id,
        CASE
            WHEN r.baseline_id IS NOT NULL THEN 'patch_group'
            WHEN d.baseline_id IS NOT NULL THEN 'default'
        END AS baseline_source
    FROM history_instances i
    LEFT JOIN registration r
        ON r.run_id = i.run_id
       AND r.account_id = i.account_id
       AND r.region = i.region
       AND r.patch_group = i.patch_group
       AND r.operating_system = i.operating_system
    LEFT JOIN default_baseline d
        ON d.run_id = i.run_id
       AND d.account_id = i.account_id
       AND d.region = i.region
       AND d.operating_system = i.operating_system
)
SELECT
    e.run_id,
    p.dt,
    p.run_started_at,
    p.runs_back,
    e.account_id,
    e.region,
    e.instance_id,
    e.computer_name,
    e.platform_type,
    e.platform_name,
    e.platform_version,
    e.operating_system,
    e.ping_status,
    e.last_ping_at,
    e.resource_type,
    COALESCE(e.ping_status IN ('ConnectionLost', 'Inactive'), false) AS is_inactive,
    e.patch_group,
    e.baseline_id,
    e.baseline_source,
    b.name AS baseline_name,
    b.operating_system AS baseline_operating_system,
    s.baseline_id AS reported_baseline_id,
    CASE
        WHEN p.exclude_inactive AND e.ping_status IN ('ConnectionLost', 'Inactive') THEN 'inactive'
        WHEN s.instance_id IS NULL THEN 'unreported'
        WHEN to_unixtime(s.operation_end_at)
             < to_unixtime(p.run_started_at) - 86400 * CAST(p.stale_after_days AS DOUBLE) THEN 'stale'
        WHEN s.missing + s.failed
             + CASE WHEN p.pending_reboot_non_compliant THEN s.installed_pending_reboot ELSE 0 END
             + CASE WHEN p.rejected_non_compliant THEN s.installed_rejected ELSE 0 END > 0
            THEN 'non_compliant'
        ELSE 'compliant'
    END AS status,
    s.instance_id IS NOT NULL AS has_patch_state,
    s.instance_id IS NOT NULL AND s.baseline_id IS DISTINCT FROM e.baseline_id AS baseline_drift,
    s.operation,
    s.operation_start_at,
    s.operation_end_at,
    s.installed,
    s.installed_other,
    s.installed_pending_reboot,
    s.installed_rejected,
    s.missing,
    s.failed,
    s.not_applicable,
    s.critical_non_compliant,
    s.security_non_compliant,
    s.other_non_compliant
FROM effective e
JOIN history_params p
    ON p.run_id = e.run_id
LEFT JOIN history_patch_states s
    ON s.run_id = e.run_id
   AND s.account_id = e.account_id
   AND s.region = e.region
   AND s.instance_id = e.instance_id
LEFT JOIN baseline b
    ON b.run_id = e.run_id
   AND b.account_id = e.account_id
   AND b.region = e.region
   AND b.baseline_id = e.baseline_id
