-- cve_exposure: one row per CVE id that a Missing or Failed patch of the run would fix, with
-- the instances and accounts exposed, the highest severity of those patches, and since when
-- (the first committed run up to this one in which any instance was missing a patch for it).
WITH open_patches AS (
    SELECT account_id, region, instance_id, title, severity, UNNEST(cve_ids) AS cve_id
    FROM instance_patches
    WHERE state IN ('Missing', 'MISSING', 'Failed', 'FAILED')
),
ranked AS (
    SELECT
        *,
        CASE UPPER(severity)
            WHEN 'CRITICAL' THEN 4
            WHEN 'IMPORTANT' THEN 3
            WHEN 'HIGH' THEN 3
            WHEN 'MEDIUM' THEN 2
            WHEN 'MODERATE' THEN 2
            WHEN 'LOW' THEN 1
            ELSE 0
        END AS severity_rank
    FROM open_patches
),
first_seen AS (
    SELECT c.cve_id, MIN(hp.run_started_at) AS first_seen_at, MIN(hp.run_id) AS first_seen_run_id
    FROM (
        SELECT run_id, UNNEST(cve_ids) AS cve_id
        FROM history_instance_patches
        WHERE state IN ('Missing', 'MISSING', 'Failed', 'FAILED')
    ) c
    JOIN history_params hp
        ON hp.run_id = c.run_id
    WHERE hp.runs_back >= 0
    GROUP BY c.cve_id
)
SELECT
    r.cve_id,
    MAX(r.severity_rank) AS severity_rank,
    CASE MAX(r.severity_rank)
        WHEN 4 THEN 'Critical'
        WHEN 3 THEN 'Important'
        WHEN 2 THEN 'Medium'
        WHEN 1 THEN 'Low'
        ELSE 'Unspecified'
    END AS severity,
    COUNT(DISTINCT r.account_id || '/' || r.region || '/' || r.instance_id) AS instances,
    COUNT(DISTINCT r.account_id) AS accounts,
    COUNT(DISTINCT r.title) AS patches,
    MIN(r.title) AS example_patch,
    MIN(f.first_seen_run_id) AS first_seen_run_id,
    MIN(f.first_seen_at) AS first_seen_at,
    ROUND((date_part('epoch', MIN(p.run_started_at)) - date_part('epoch', MIN(f.first_seen_at)))
          / 86400.0, 1) AS days_exposed
FROM ranked r
CROSS JOIN params p
LEFT JOIN first_seen f
    ON f.cve_id = r.cve_id
GROUP BY r.cve_id
ORDER BY severity_rank DESC, instances DESC, r.cve_id
