"""Partition steps: load -> compute -> write for one (model, day). No Dagster here.

Each step returns a small result the Dagster layer turns into metadata and check results.
"""
