"""Run tags Dagster itself reads, spelled out: the public API does not export their names.

A test compares them with Dagster's own constants, so an upgrade that renames one fails
there rather than silently here.
"""

# Runs with a higher priority leave the run queue first.
PRIORITY_TAG = "dagster/priority"
# What the daemon stores on a sensor's runs; it looks run keys up among that sensor's runs.
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"
