-- days_missing: one row per patch (title, classification, severity) that was Missing or
-- Failed on some instance in a committed run up to the selected one: when it was first and
-- last seen missing, for how many days, on how many instances it is still missing now, and
-- the mean time to remediate (MTTR) over the instances where it was fixed.
-- An instance's exposure starts at the first run it was missing there and ends at the first
-- later run in which the instance reported a patch state without the patch missing; only the
-- first exposure per instance counts (a patch missing again later is not a new one).
WITH runs AS (
    SELECT run_id, run_started_at
    FROM history_params
    WHERE runs_back >= 0
),
missing AS (
    SELECT p.account_id, p.region, p.instance_id, p.title,
           p.classification, p.severity, r.run_id, r.run_started_at
    FROM history_instance_patches p
    JOIN runs r
        ON r.run_id = p.run_id
    WHERE p.state IN ('Missing', 'MISSING', 'Failed', 'FAILED')
),
exposure AS (
    SELECT account_id, region, instance_id, title,
           MAX(classification) AS classification, MAX(severity) AS severity,
           MIN(run_started_at) AS first_missing_at, MAX(run_started_at) AS last_missing_at
    FROM missing
    GROUP BY account_id, region, instance_id, title
),
reported AS (
    SELECT s.account_id, s.region, s.instance_id, r.run_id, r.run_started_at
    FROM history_patch_states s
    JOIN runs r
        ON r.run_id = s.run_id
),
fixed AS (
    SELECT e.account_id, e.region, e.instance_id, e.title, MIN(o.run_started_at) AS fixed_at
    FROM exposure e
    JOIN reported o
        ON o.account_id = e.account_id
       AND o.region = e.region
       AND o.instance_id = e.instance_id
       AND o.run_started_at > e.first_missing_at
    LEFT JOIN missing m
        ON m.account_id = e.account_id
       AND m.region = e.region
       AND m.instance_id = e.instance_id
       AND m.title = e.title
       AND m.run_id = o.run_id
    WHERE m.run_id IS NULL
    GROUP BY e.account_id, e.region, e.instance_id, e.title
),
now_missing AS (
    SELECT DISTINCT m.account_id, m.region, m.instance_id, m.title
    FROM missing m
    JOIN params p
        ON p.run_id = m.run_id
)
SELECT
    e.title,
    MAX(e.classification) AS classification,
    MAX(e.severity) AS severity,
    COUNT(*) AS instances_affected,
    COUNT(n.title) AS still_missing,
    COUNT(f.fixed_at) AS remediated,
    MIN(e.first_missing_at) AS first_missing_at,
    MAX(e.last_missing_at) AS last_missing_at,
    ROUND((date_part('epoch', CASE WHEN COUNT(n.title) > 0 THEN MIN(p.run_started_at)
                                   ELSE MAX(e.last_missing_at) END)
           - date_part('epoch', MIN(e.first_missing_at))) / 86400.0, 1) AS days_missing,
    ROUND(AVG((date_part('epoch', f.fixed_at) - date_part('epoch', e.first_missing_at))
              / 86400.0), 1) AS mttr_days
FROM exposure e
CROSS JOIN params p
LEFT JOIN fixed f
    ON f.account_id = e.account_id
   AND f.region = e.region
   AND f.instance_id = e.instance_id
   AND f.title = e.title
LEFT JOIN now_missing n
    ON n.account_id = e.account_id
   AND n.region = e.region
   AND n.instance_id = e.instance_id
   AND n.title = e.title
GROUP BY e.title
ORDER BY still_missing DESC, days_missing DESC, e.title
