-- history_params: the parameters of every committed run, as the DataFusion table of the same
-- name with the latest committed run selected: runs_back 0 for the latest run, 1 for the one
-- before, and so on. (stale_before is left out: the views compare epoch seconds.)
CREATE OR REPLACE VIEW history_params AS
SELECT
    c.run_id,
    c.dt,
    c.started_at AS run_started_at,
    p.stale_after_days,
    p.pending_reboot_non_compliant,
    p.rejected_non_compliant,
    p.exclude_inactive,
    p.trend_runs,
    CAST(ROW_NUMBER() OVER (ORDER BY c.run_id DESC) - 1 AS INTEGER) AS runs_back
FROM committed_runs c
CROSS JOIN patchlake_params p
