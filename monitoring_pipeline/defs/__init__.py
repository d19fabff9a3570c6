"""Dagster wiring: resources, partitions, assets with checks, jobs. Thin: it calls pipeline/."""
