-- compliance_by_patch_group: Athena (Trino) view generated from
-- queries/compliance_by_patch_group.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates). Over the latest committed run.
-- compliance_by_patch_group: one row per patch group (the instance's `Patch Group` tag,
-- '(none)' when untagged). Status counts cover every instance; missing, failed,
-- installed_pending_reboot, critical_non_compliant and security_non_compliant sum the patch
-- states of every instance that has one, stale ones included. With params.exclude_inactive,
-- `inactive` instances are counted apart and left out of everything else.
CREATE OR REPLACE VIEW compliance_by_patch_group AS
SELECT
    COALESCE(patch_group, '(none)') AS patch_group,
    COUNT(*) FILTER (WHERE status <> 'inactive') AS instances,
    COUNT(*) FILTER (WHERE status = 'compliant') AS compliant,
    COUNT(*) FILTER (WHERE status = 'non_compliant') AS non_compliant,
    COUNT(*) FILTER (WHERE status = 'stale') AS stale,
    COUNT(*) FILTER (WHERE status = 'unreported') AS unreported,
    COUNT(*) FILTER (WHERE status = 'inactive') AS inactive,
    FLOOR((2000 * CAST(COUNT(*) FILTER (WHERE status = 'compliant') AS DOUBLE) + COUNT(*) FILTER (WHERE status <> 'inactive'))
          / (2 * CAST(NULLIF(COUNT(*) FILTER (WHERE status <> 'inactive'), 0) AS DOUBLE))) / 10 AS compliance_pct,
    COALESCE(SUM(missing) FILTER (WHERE status <> 'inactive'), 0) AS missing,
    COALESCE(SUM(failed) FILTER (WHERE status <> 'inactive'), 0) AS failed,
    COALESCE(SUM(installed_pending_reboot) FILTER (WHERE status <> 'inactive'), 0) AS installed_pending_reboot,
    COALESCE(SUM(critical_non_compliant) FILTER (WHERE status <> 'inactive'), 0) AS critical_non_compliant,
    COALESCE(SUM(security_non_compliant) FILTER (WHERE status <> 'inactive'), 0) AS security_non_compliant
FROM instance_compliance
GROUP BY 1
ORDER BY 1
