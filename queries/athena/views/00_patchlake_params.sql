-- patchlake_params: the report parameters, one row. Athena has no session parameters, so
-- they live in this view; the values are the defaults of the report.* config keys. Change
-- them with CREATE OR REPLACE VIEW, keeping the column names.
CREATE OR REPLACE VIEW patchlake_params AS
SELECT
    CAST(7 AS INTEGER) AS stale_after_days,
    true AS pending_reboot_non_compliant,
    false AS rejected_non_compliant,
    true AS exclude_inactive,
    CAST(30 AS INTEGER) AS trend_runs
