"""Run tags Dagster itself reads, spelled out: the public API does not export their names.

A test compares them with Dagster's own constants, so an upgrade that renames one fails
there rather than silently here.
"""

# Runs with a higher priority leave the run queue first.
PRIORITY_TAG = "dagster/priority"
# What the daemon stores on a sensor's runs; it looks run keys up among that sensor's runs.
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"

# Ours: set on a run replaying the past (``monitoring-pipeline backtest``), the ISO time
# whose labels the run may see: labeled_predictions joins only label rows recorded by then.
LABELS_AS_OF_TAG = "monitoring/labels_as_of"
# Ours: set on a run of a simulation (the demo), the ISO time complaint_metrics counts
# complaints as of (else the labels' cutoff, else the wall clock).
COMPLAINTS_AS_OF_TAG = "monitoring/complaints_as_of"
