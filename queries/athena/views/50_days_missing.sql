-- days_missing: Athena (Trino) view generated from
-- queries/days_missing.sql by crates/query/src/athena.rs; do not edit
-- (PATCHLAKE_BLESS=1 cargo test --workspace athena regenerates). Over the latest committed run.
-- Rewritten: date_part('epoch', x) as to_unixtime(x).
-- days_missing: one row per patch (title, classification, severity) that was Missing or
-- Failed on some instance in a committed run up to the selected one: when it was first and
-- last seen missing, for how many days, on how many instances it is still missing now, and
-- the mean time to remediate (MTTR) over the instances where it was fixed.
-- An instance's exposure starts at the first run it was missing there and ends at the first
-- later run in which the instance reported a patch state without the patch missing; only the
-- first exposure per instance counts (a patch missing again later is not a new one).
--
-- One window pass over the patch history. Number an instance's reporting runs 1, 2, ...
-- (`cum` counts them up to each run). An exposure that starts after the instance's `s`-th
-- reporting run is fixed at reporting run s + L + 1, where L is how many of the reporting
-- runs s + 1, s + 2, ... in a row still had the patch missing: the missing rows in reporting
-- runs, taken in order (`rk` = 1, 2, ...), are that unbroken run exactly while
-- cum - rk = s, so L is the largest such rk.
-- The window sees only the key, the run and the counters: classification and severity
-- come per title from a second, narrow read of the history (`kinds`), and `reporting`
-- (small) is the build side of the join that the history streams through. Carrying every
-- string through that join's build side and the window's sort peaked at 3 GiB at the
-- medium bench.
-- Days are rounded to tenths half away from zero from whole quotients, FLOOR((x + h) / 2h),
-- so every engine rounds the same number the same way (ROUND of a double does not: 2.05 is
-- 2.0499.. in binary).
CREATE OR REPLACE VIEW days_missing AS
WITH past_runs AS (
    SELECT run_id, run_started_at, runs_back
    FROM history_params
    WHERE runs_back >= 0
),
reported AS (
    SELECT DISTINCT account_id, region, instance_id, run_id
    FROM history_patch_states
),
reporting AS (
    -- One row per instance that ever reported and run: whether it reported then, and how
    -- many of its reports there were up to then.
    SELECT
        i.account_id, i.region, i.instance_id, r.run_id, r.run_started_at,
        CASE WHEN s.run_id IS NULL THEN 0 ELSE 1 END AS rep,
        SUM(CASE WHEN s.run_id IS NULL THEN 0 ELSE 1 END) OVER (
            PARTITION BY i.account_id, i.region, i.instance_id
            ORDER BY r.run_started_at
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS cum
    FROM (SELECT DISTINCT account_id, region, instance_id FROM reported) i
    CROSS JOIN past_runs r
    LEFT JOIN reported s
        ON s.account_id = i.account_id
       AND s.region = i.region
       AND s.instance_id = i.instance_id
       AND s.run_id = r.run_id
),
missing AS (
    SELECT
        p.account_id, p.region, p.instance_id, p.title,
        r.run_started_at, r.runs_back,
        COALESCE(g.rep, 0) AS rep,
        COALESCE(g.cum, 0) AS cum
    FROM reporting g
    RIGHT JOIN history_instance_patches p
        ON g.account_id = p.account_id
       AND g.region = p.region
       AND g.instance_id = p.instance_id
       AND g.run_id = p.run_id
    JOIN past_runs r
        ON r.run_id = p.run_id
    WHERE p.state IN ('Missing', 'MISSING', 'Failed', 'FAILED')
),
ranked AS (
    -- The unbounded frame keeps both functions in one bulk window pass (DataFusion's
    -- streaming window is several times slower over this many small partitions).
    SELECT
        *,
        CAST(DENSE_RANK() OVER (
            PARTITION BY account_id, region, instance_id, title
            ORDER BY rep DESC, run_started_at
        ) AS BIGINT) AS rk,
        MIN(cum - rep) OVER (
            PARTITION BY account_id, region, instance_id, title
            ORDER BY rep DESC, run_started_at
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        ) AS s
    FROM missing
),
exposure AS (
    SELECT account_id, region, instance_id, title,
           MIN(run_started_at) AS first_missing_at, MAX(run_started_at) AS last_missing_at,
           MAX(CASE WHEN runs_back = 0 THEN 1 ELSE 0 END) AS now_missing,
           MIN(s) + COALESCE(MAX(rk) FILTER (WHERE rep = 1 AND cum - rk = s), 0) + 1
               AS fixed_report
    FROM ranked
    GROUP BY account_id, region, instance_id, title
),
fixed AS (
    SELECT e.title, e.first_missing_at, e.last_missing_at,
           e.now_missing, g.run_started_at AS fixed_at,
           to_unixtime(g.run_started_at) - to_unixtime(e.first_missing_at) AS ttr
    FROM exposure e
    LEFT JOIN reporting g
        ON g.account_id = e.account_id
       AND g.region = e.region
       AND g.instance_id = e.instance_id
       AND g.rep = 1
       AND g.cum = e.fixed_report
),
per_patch AS (
    SELECT
        f.title,
        COUNT(*) AS instances_affected,
        SUM(f.now_missing) AS still_missing,
        COUNT(f.fixed_at) AS remediated,
        MIN(f.first_missing_at) AS first_missing_at,
        MAX(f.last_missing_at) AS last_missing_at,
        -- Until the selected run while still missing there, else until last seen missing:
        -- the latest last_missing_at either way.
        to_unixtime(MAX(f.last_missing_at))
            - to_unixtime(MIN(f.first_missing_at)) AS missing_seconds,
        SUM(f.ttr) AS ttr_seconds
    FROM fixed f
    GROUP BY f.title
),
kinds AS (
    -- The same as MAX over the exposures of each title, without carrying the columns through
    -- the window.
    SELECT p.title, MAX(p.classification) AS classification, MAX(p.severity) AS severity
    FROM history_instance_patches p
    JOIN past_runs r
        ON r.run_id = p.run_id
    WHERE p.state IN ('Missing', 'MISSING', 'Failed', 'FAILED')
    GROUP BY p.title
)
SELECT
    pp.title,
    k.classification,
    k.severity,
    instances_affected,
    still_missing,
    remediated,
    first_missing_at,
    last_missing_at,
    FLOOR((missing_seconds + 4320) / 8640) / 10 AS days_missing,
    FLOOR((ttr_seconds + 4320 * remediated) / (8640 * NULLIF(remediated, 0))) / 10 AS mttr_days
FROM per_patch pp
JOIN kinds k
    ON k.title = pp.title
ORDER BY still_missing DESC, days_missing DESC, pp.title
