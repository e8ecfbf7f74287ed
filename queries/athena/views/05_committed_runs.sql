-- committed_runs: one row per committed run. A run is committed exactly when its runs
-- record (runs/dt=/run_id=/part-00000.parquet) exists, so data of a crashed or in-flight
-- run is never read.
CREATE OR REPLACE VIEW committed_runs AS
SELECT
    regexp_extract(r."$path", 'run_id=([^/]+)/', 1) AS run_id,
    r.dt,
    r.started_at
FROM runs r
