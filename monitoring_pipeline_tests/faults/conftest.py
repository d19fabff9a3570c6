"""Fixtures of the fault-injection tests: fresh migrated databases that outlive a test (each
module builds one world and breaks it in several ways) and one clean run to compare with."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from monitoring_pipeline.config import load_config
from monitoring_pipeline.dagster_storage import instance_storage_config
from monitoring_pipeline.orchestrate import run_days
from monitoring_pipeline.storage.database import with_database
from monitoring_pipeline_tests.conftest import TEMPLATE
from monitoring_pipeline_tests.faults.world import (
    DAY,
    VOLUME,
    Fingerprints,
    fingerprints,
    publish_day,
)

_counter = itertools.count()


@pytest.fixture(scope="session")
def faults_database(pg_admin_url: str) -> Callable[[], str]:
    """Makes fresh, migrated databases (from the session's template) that live as long as
    the fixture using them."""

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


@pytest.fixture(scope="session")
def faults_dagster_instance(
    dagster_storage_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance on the session's Dagster database."""
    with dg.instance_for_test(
        overrides=instance_storage_config(dagster_storage_url),
        temp_dir=str(tmp_path_factory.mktemp("dagster")),
    ) as instance:
        yield instance


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="session")
def clean_day(faults_database, faults_dagster_instance, tmp_path_factory) -> Fingerprints:
    """The tables after one clean run of the fault tests' day (in this process), which every
    broken-then-repaired run must equal."""
    url = faults_database()
    config_path = publish_day(url, tmp_path_factory.mktemp("clean"))
    (run,) = run_days(load_config(config_path), faults_dagster_instance, [DAY], database_url=url)
    assert run.success, run.errors
    clean = fingerprints(url)
    assert clean["labeled_prediction_rows"][0] > 0.9 * VOLUME  # the day was really written
    return clean
