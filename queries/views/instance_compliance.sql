-- instance_compliance: the one definition of an instance's patch compliance in a run.
-- Every compliance report selects from this view; see queries/README.md.
--
-- One row per managed instance (table `instances`) of the selected run.
--   baseline_id      the effective baseline: the patch group registration matching the
--                    instance's (account_id, region, patch_group, operating_system), else the
--                    account-region's default baseline for the instance's operating_system
--   baseline_source  'patch_group', 'default', or NULL when neither exists
--   status           the first that applies:
--                      inactive       ping_status 'ConnectionLost' (EC2 stopped, or agent
--                                     unreachable) or 'Inactive' (terminated or
--                                     deregistered), when params.exclude_inactive (default
--                                     true); counted apart by every report
--                      unreported     the instance has no patch state
--                      stale          operation_end_at < run_started_at - stale_after_days
--                      non_compliant  missing + failed
--                                     + installed_pending_reboot (if pending_reboot_non_compliant,
--                                       default true)
--                                     + installed_rejected (if rejected_non_compliant,
--                                       default false) > 0
--                      compliant      otherwise
--   reported_baseline_id  the baseline the patch state reports
--   baseline_drift   the instance has a patch state and it reports another baseline than the
--                    effective one
-- `params` is the one-row table of report parameters (run_id, run_started_at,
-- stale_after_days, stale_before = run_started_at - stale_after_days, and the status flags).
-- views/history_instance_compliance.sql applies the same definition to every committed run;
-- a test keeps the two equal run by run.
CREATE VIEW instance_compliance AS
-- The definition itself lives once, per committed run, in history_instance_compliance;
-- this is its row set for the selected run (runs_back = 0), without the run columns.
SELECT * EXCLUDE (run_id, dt, run_started_at, runs_back)
FROM history_instance_compliance
WHERE runs_back = 0
