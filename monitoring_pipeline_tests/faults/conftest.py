"""Fixtures of the fault-injection tests: fresh migrated databases that live for a module
(each module builds one world and breaks it in several ways)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from monitoring_pipeline.storage.database import with_database
from monitoring_pipeline_tests.conftest import TEMPLATE

_counter = itertools.count()


@pytest.fixture(scope="module")
def module_database(pg_admin_url: str) -> Callable[[], str]:
    """Makes fresh, migrated databases (from the session's template) for this module."""

    def make() -> str:
        name = f"faults_{os.getpid()}_{next(_counter)}"
        engine = sa.create_engine(
            pg_admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
        engine.dispose()
        return with_database(pg_admin_url, name)

    return make


@pytest.fixture(scope="module")
def module_dagster_instance(
    dagster_storage_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance on the session's Dagster database, for this module."""
    with dg.instance_for_test(
        overrides={"storage": {"postgres": {"postgres_url": dagster_storage_url}}},
        temp_dir=str(tmp_path_factory.mktemp("dagster")),
    ) as instance:
        yield instance


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")
