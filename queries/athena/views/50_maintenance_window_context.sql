-- maintenance_window_context: Athena (Trino) view generated from
-- queries/maintenance_window_context.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates). Over the latest committed run.
-- Rewritten: select-list UNNEST as CROSS JOIN UNNEST (Trino unnests only in FROM).
-- Rewritten: the selected run's tables read as latest_<table>.
-- maintenance_window_context: one row per non-compliant instance and maintenance window of
-- its account-region whose targets select the instance's patch group, so a finding comes with
-- when it will next be patched. An instance no window targets gets one row with NULL window
-- columns: nothing is scheduled to fix it.
CREATE OR REPLACE VIEW maintenance_window_context AS
WITH window_groups AS (
    SELECT
        account_id,
        region,
        window_id,
        name,
        schedule,
        enabled,
        next_execution_at,
        u.patch_group
    FROM latest_maintenance_windows
    CROSS JOIN UNNEST(target_patch_groups) AS u(patch_group)
)
SELECT
    ic.account_id,
    ic.region,
    ic.instance_id,
    ic.computer_name,
    ic.patch_group,
    ic.missing,
    ic.failed,
    ic.installed_pending_reboot,
    w.window_id,
    w.name AS window_name,
    w.schedule,
    w.enabled AS window_enabled,
    w.next_execution_at
FROM instance_compliance ic
LEFT JOIN window_groups w
    ON w.account_id = ic.account_id
   AND w.region = ic.region
   AND w.patch_group = ic.patch_group
WHERE ic.status = 'non_compliant'
ORDER BY ic.account_id, ic.region, ic.instance_id, w.next_execution_at, w.window_id
