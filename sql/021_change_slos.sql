-- Issue 15 (change-from-baseline SLIs): an SLO may read monitoring.cohort_changes.
COMMENT ON COLUMN monitoring.slo_evaluations.sli_source IS 'Table the figure comes from: cohort_metrics, fairness_disparities, cohort_changes (judged on the size of difference) or drift.';
COMMENT ON COLUMN monitoring.slo_status.sli_source IS 'Table the SLI comes from (cohort_metrics, fairness_disparities, cohort_changes or drift), from the as_of evaluation.';
