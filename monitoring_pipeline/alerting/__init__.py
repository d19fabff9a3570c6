"""Alerting: from signals (error budgets today, pipeline-health findings later) to deduplicated
notifications, their messages and their delivery. No Dagster and no SQL here."""
