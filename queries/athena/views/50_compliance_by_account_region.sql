-- compliance_by_account_region: Athena (Trino) view generated from
-- queries/compliance_by_account_region.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates). Over the latest committed run.
-- Rewritten: the selected run's tables read as latest_<table>.
-- compliance_by_account_region: one row per account-region the run attempted (table
-- `coverage`), with how collection went and the same counts as compliance_by_patch_group.
-- A region that failed to collect shows its error and zero instances, not a gap.
CREATE OR REPLACE VIEW compliance_by_account_region AS
WITH per_region AS (
    SELECT
        account_id,
        region,
        COUNT(*) FILTER (WHERE status <> 'inactive') AS instances,
        COUNT(*) FILTER (WHERE status = 'compliant') AS compliant,
        COUNT(*) FILTER (WHERE status = 'non_compliant') AS non_compliant,
        COUNT(*) FILTER (WHERE status = 'stale') AS stale,
        COUNT(*) FILTER (WHERE status = 'unreported') AS unreported,
        COUNT(*) FILTER (WHERE status = 'inactive') AS inactive,
        COALESCE(SUM(missing) FILTER (WHERE status <> 'inactive'), 0) AS missing,
        COALESCE(SUM(failed) FILTER (WHERE status <> 'inactive'), 0) AS failed,
        COALESCE(SUM(installed_pending_reboot) FILTER (WHERE status <> 'inactive'), 0) AS installed_pending_reboot,
        COALESCE(SUM(critical_non_compliant) FILTER (WHERE status <> 'inactive'), 0) AS critical_non_compliant,
        COALESCE(SUM(security_non_compliant) FILTER (WHERE status <> 'inactive'), 0) AS security_non_compliant
    FROM instance_compliance
    GROUP BY account_id, region
)
SELECT
    c.account_id,
    c.region,
    c.status AS coverage_status,
    c.error_code,
    COALESCE(r.instances, 0) AS instances,
    COALESCE(r.compliant, 0) AS compliant,
    COALESCE(r.non_compliant, 0) AS non_compliant,
    COALESCE(r.stale, 0) AS stale,
    COALESCE(r.unreported, 0) AS unreported,
    COALESCE(r.inactive, 0) AS inactive,
    FLOOR((2000 * CAST(r.compliant AS DOUBLE) + r.instances)
          / (2 * CAST(NULLIF(r.instances, 0) AS DOUBLE))) / 10 AS compliance_pct,
    COALESCE(r.missing, 0) AS missing,
    COALESCE(r.failed, 0) AS failed,
    COALESCE(r.installed_pending_reboot, 0) AS installed_pending_reboot,
    COALESCE(r.critical_non_compliant, 0) AS critical_non_compliant,
    COALESCE(r.security_non_compliant, 0) AS security_non_compliant
FROM latest_coverage c
LEFT JOIN per_region r
    ON r.account_id = c.account_id
   AND r.region = c.region
ORDER BY c.account_id, c.region
