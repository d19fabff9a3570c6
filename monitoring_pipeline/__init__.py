"""monitoring_pipeline: watch deployed classification models for decay, drift and unfairness."""

import gc

# Python looks for reference cycles after every 700 new container objects (its default);
# importing Dagster, pandas, scipy and Great Expectations makes ~440,000 of them, so each
# process paid ~1.5 s of full collections while starting, finding almost nothing to free
# (data frames are freed by reference counting, not by these scans). Every 50,000: a
# one-day `materialize` 6% faster (wall and CPU, farm-bench, 4 pairs), peak +1.4%.
# A process that set its own thresholds keeps them.
PYTHON_DEFAULT_THRESHOLDS = (700, 10, 10)
CYCLE_SCAN_THRESHOLDS = (50_000, 20, 20)
if gc.get_threshold() == PYTHON_DEFAULT_THRESHOLDS:
    gc.set_threshold(*CYCLE_SCAN_THRESHOLDS)
