-- Issue 15 (detection): two more pipeline-health checks, label_arrival (young days' labels
-- against earlier days at the same age) and data_quality (the day's quarantined share and
-- non-blocking checks). Comments only.
COMMENT ON COLUMN monitoring.health_checks.check_name IS 'stale_baseline, overdue_partitions, label_lag, label_coverage, label_coverage_trend, label_arrival or data_quality (also the Dagster asset check name).';
