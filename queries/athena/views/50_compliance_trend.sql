-- compliance_trend: Athena (Trino) view generated from
-- queries/compliance_trend.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates). Over the latest committed run.
-- compliance_trend: one row per committed run, the last params.trend_runs runs up to and
-- including the selected one, oldest first: the fleet-wide status counts of
-- compliance_by_patch_group, each run judged by the same definition against its own start
-- time (view history_instance_compliance), and how many Critical or security patches were
-- missing or failed in it.
CREATE OR REPLACE VIEW compliance_trend AS
WITH per_run AS (
    SELECT
        run_id,
        COUNT(*) FILTER (WHERE status <> 'inactive') AS instances,
        COUNT(*) FILTER (WHERE status = 'compliant') AS compliant,
        COUNT(*) FILTER (WHERE status = 'non_compliant') AS non_compliant,
        COUNT(*) FILTER (WHERE status = 'stale') AS stale,
        COUNT(*) FILTER (WHERE status = 'unreported') AS unreported,
        COUNT(*) FILTER (WHERE status = 'inactive') AS inactive,
        COALESCE(SUM(critical_non_compliant) FILTER (WHERE status <> 'inactive'), 0)
            AS critical_non_compliant
    FROM history_instance_compliance
    GROUP BY run_id
),
missing_critical AS (
    SELECT run_id, COUNT(*) AS missing_critical_patches
    FROM history_instance_patches
    WHERE state IN ('Missing', 'MISSING', 'Failed', 'FAILED')
      AND (severity IN ('Critical', 'CRITICAL')
           OR classification IN ('Security', 'SecurityUpdates', 'CriticalUpdates'))
    GROUP BY run_id
)
SELECT
    hp.run_id,
    hp.dt,
    hp.run_started_at,
    COALESCE(r.instances, 0) AS instances,
    COALESCE(r.compliant, 0) AS compliant,
    COALESCE(r.non_compliant, 0) AS non_compliant,
    COALESCE(r.stale, 0) AS stale,
    COALESCE(r.unreported, 0) AS unreported,
    COALESCE(r.inactive, 0) AS inactive,
    FLOOR((2000 * CAST(r.compliant AS DOUBLE) + r.instances)
          / (2 * CAST(NULLIF(r.instances, 0) AS DOUBLE))) / 10 AS compliance_pct,
    COALESCE(r.critical_non_compliant, 0) AS critical_non_compliant,
    COALESCE(m.missing_critical_patches, 0) AS missing_critical_patches
FROM history_params hp
LEFT JOIN per_run r
    ON r.run_id = hp.run_id
LEFT JOIN missing_critical m
    ON m.run_id = hp.run_id
WHERE hp.runs_back >= 0
  AND hp.runs_back < hp.trend_runs
ORDER BY hp.run_id
