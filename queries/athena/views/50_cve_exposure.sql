-- cve_exposure: Athena (Trino) view generated from
-- queries/cve_exposure.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates). Over the latest committed run.
-- Rewritten: select-list UNNEST as CROSS JOIN UNNEST (Trino unnests only in FROM).
-- Rewritten: date_part('epoch', x) as to_unixtime(x).
-- cve_exposure: one row per CVE id that a Missing or Failed patch of the run would fix, with
-- the instances and accounts exposed, the highest severity of those patches, and since when
-- (the first committed run up to this one in which any instance was missing a patch for it).
--
-- One pass over the patch history, one UNNEST: Missing or Failed patches are first grouped by
-- their list of CVE ids, keeping the instance, title and severity only for the selected run
-- (runs_back = 0; NULL for earlier runs, which count only for first_seen), so the lists are
-- unnested once per group rather than once per patch and run.
CREATE OR REPLACE VIEW cve_exposure AS
WITH open_patches AS (
    SELECT
        p.cve_ids,
        hp.runs_back = 0 AS in_run,
        CASE WHEN hp.runs_back = 0 THEN p.account_id END AS account_id,
        CASE WHEN hp.runs_back = 0 THEN p.region END AS region,
        CASE WHEN hp.runs_back = 0 THEN p.instance_id END AS instance_id,
        CASE WHEN hp.runs_back = 0 THEN p.title END AS title,
        CASE WHEN hp.runs_back = 0 THEN p.severity END AS severity,
        MIN(hp.run_started_at) AS first_seen_at,
        MIN(hp.run_id) AS first_seen_run_id
    FROM history_instance_patches p
    JOIN history_params hp
        ON hp.run_id = p.run_id
    WHERE p.state IN ('Missing', 'MISSING', 'Failed', 'FAILED')
      AND hp.runs_back >= 0
    GROUP BY 1, 2, 3, 4, 5, 6, 7
),
ranked AS (
    SELECT
        u.cve_id,
        in_run,
        account_id,
        region,
        instance_id,
        title,
        CASE WHEN in_run THEN
            CASE UPPER(severity)
                WHEN 'CRITICAL' THEN 4
                WHEN 'IMPORTANT' THEN 3
                WHEN 'HIGH' THEN 3
                WHEN 'MEDIUM' THEN 2
                WHEN 'MODERATE' THEN 2
                WHEN 'LOW' THEN 1
                ELSE 0
            END
        END AS severity_rank,
        first_seen_at,
        first_seen_run_id
    FROM open_patches
    CROSS JOIN UNNEST(cve_ids) AS u(cve_id)
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
    MIN(r.first_seen_run_id) AS first_seen_run_id,
    MIN(r.first_seen_at) AS first_seen_at,
    -- The selected run's start is first_seen_at of its own rows (no join with params).
    FLOOR((to_unixtime(MAX(CASE WHEN r.in_run THEN r.first_seen_at END))
           - to_unixtime(MIN(r.first_seen_at)) + 4320) / 8640) / 10 AS days_exposed
FROM ranked r
GROUP BY r.cve_id
HAVING MAX(CASE WHEN r.in_run THEN 1 ELSE 0 END) = 1
ORDER BY severity_rank DESC, instances DESC, r.cve_id
