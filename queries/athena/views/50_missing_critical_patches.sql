-- missing_critical_patches: Athena (Trino) view generated from
-- queries/missing_critical_patches.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates). Over the latest committed run.
-- Rewritten: the selected run's tables read as latest_<table>.
-- missing_critical_patches: one row per instance x patch that is Missing or Failed and is
-- either of Critical severity or a security update (classification Security on Linux,
-- SecurityUpdates or CriticalUpdates on Windows), with its CVE ids. States and severities
-- are matched in both the API's spelling (MISSING) and the console's (Missing).
CREATE OR REPLACE VIEW missing_critical_patches AS
SELECT
    p.account_id,
    p.region,
    p.instance_id,
    ic.computer_name,
    ic.patch_group,
    ic.status AS instance_status,
    p.title,
    p.kb_id,
    p.classification,
    p.severity,
    p.state,
    p.cve_ids
FROM latest_instance_patches p
LEFT JOIN instance_compliance ic
    ON ic.account_id = p.account_id
   AND ic.region = p.region
   AND ic.instance_id = p.instance_id
WHERE p.state IN ('Missing', 'MISSING', 'Failed', 'FAILED')
  AND (p.severity IN ('Critical', 'CRITICAL')
       OR p.classification IN ('Security', 'SecurityUpdates', 'CriticalUpdates'))
ORDER BY p.account_id, p.region, p.instance_id, p.title
