-- instance_compliance: Athena (Trino) view generated from
-- queries/views/instance_compliance.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates).
-- Rewritten: SELECT * EXCLUDE spelled out (Trino has no EXCLUDE).
-- instance_compliance: the one definition of an instance's patch compliance in a run.
-- Every compliance report selects from this view; see queries/README.md.
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
CREATE OR REPLACE VIEW instance_compliance AS
-- The definition itself lives once, per committed run, in history_instance_compliance;
-- this is its row set for the selected run (runs_back = 0), without the run columns.
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
