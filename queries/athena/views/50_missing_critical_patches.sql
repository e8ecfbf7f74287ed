-- missing_critical_patches (Athena twin of queries/missing_critical_patches.sql, over the
-- latest committed run; patches are read through history_instance_patches):
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
FROM history_instance_patches p
JOIN history_params hp
    ON hp.run_id = p.run_id
   AND hp.runs_back = 0
LEFT JOIN instance_compliance ic
    ON ic.account_id = p.account_id
   AND ic.region = p.region
   AND ic.instance_id = p.instance_id
WHERE p.state IN ('Missing', 'MISSING', 'Failed', 'FAILED')
  AND (p.severity IN ('Critical', 'CRITICAL')
       OR p.classification IN ('Security', 'SecurityUpdates', 'CriticalUpdates'))
ORDER BY p.account_id, p.region, p.instance_id, p.title
