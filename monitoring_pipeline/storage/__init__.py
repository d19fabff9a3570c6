"""Postgres storage: server bootstrap, migrations, bulk partition writes and source readers.

No Dagster in here: the Dagster layer calls these functions.
"""
