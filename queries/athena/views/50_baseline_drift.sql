-- baseline_drift: Athena (Trino) view generated from
-- queries/baseline_drift.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates). Over the latest committed run.
-- baseline_drift: one row per instance whose last patch operation used another baseline than
-- the one that applies to it now (its patch group's registration, else the OS default):
-- typically a registration changed after the last scan, or a scan run with an explicit
-- baseline override.
CREATE OR REPLACE VIEW baseline_drift AS
SELECT
    account_id,
    region,
    instance_id,
    computer_name,
    patch_group,
    operating_system,
    baseline_id AS effective_baseline_id,
    baseline_source,
    baseline_name AS effective_baseline_name,
    reported_baseline_id,
    status,
    operation_end_at
FROM instance_compliance
WHERE baseline_drift
ORDER BY account_id, region, instance_id
