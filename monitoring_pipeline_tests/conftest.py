"""Shared fixtures: one real embedded PostgreSQL per test session (per pytest-xdist worker:
each worker is a session with its own temporary folders, so its own server), a fresh
database per test, or per module for the ``module_*`` fixtures (an expensive world built once
and read by every test of the module).

Nothing here is mocked: if the server cannot start, every database test errors.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitoring_pipeline.dagster_storage import instance_storage_config
from monitoring_pipeline_tests.helpers.databases import TEMPLATE, create_database_from_template

_counter = itertools.count()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules holding end-to-end tests run first, the rest in collection order after them.

    The two xdist workers take whole modules (``--dist loadfile``, ``--no-loadscope-reorder``):
    the long worlds started first spread over both workers, and the many short modules fill
    whichever worker is free at the end. Left to themselves, xdist starts modules with the
    most tests first and could leave a minute-long world last, on one worker while the
    other idles (measured 2026-12-07: the same wall either way, 491 and 498 s, the workers
    happened to be balanced; this order cannot go wrong as modules are added).
    """
    slow = {item.path for item in items if item.get_closest_marker("e2e")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(scope="session", autouse=True)
def monitoring_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """MONITORING_HOME of the test session: a temporary folder, so files a test run writes
    by default (the report asset's HTML under ``$MONITORING_HOME/reports``) never land
    in the working tree."""
    home = tmp_path_factory.mktemp("monitoring_home")
    previous = os.environ.get("MONITORING_HOME")
    os.environ["MONITORING_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("MONITORING_HOME", None)
    else:
        os.environ["MONITORING_HOME"] = previous


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin URL of an embedded server private to this test session."""
    root = tmp_path_factory.mktemp("pg")
    runtime = root / "run"
    runtime.mkdir(mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    from monitoring_pipeline.storage.database import (
        create_database_if_missing,
        create_engine,
        ensure_embedded_server,
        with_database,
    )
    from monitoring_pipeline.storage.migrations import apply_migrations

    admin = ensure_embedded_server(root / "pgdata")
    create_database_if_missing(admin, TEMPLATE)
    engine = create_engine(with_database(admin, TEMPLATE))
    apply_migrations(engine)
    engine.dispose()
    yield admin


@pytest.fixture(scope="session")
def pg_credentials(pg_admin_url: str):
    """The passwords ``ensure_embedded_server`` generated for the session's server."""
    from sqlalchemy.engine import make_url

    from monitoring_pipeline.storage.credentials import credentials_path_for, load_credentials

    pgdata = Path(make_url(pg_admin_url).query["host"])
    credentials = load_credentials(credentials_path_for(pgdata))
    assert credentials is not None
    return credentials


@pytest.fixture
def reader_url(database_url: str, pg_credentials) -> str:
    """The analysts' read-only role on this test's database."""
    from monitoring_pipeline.storage.credentials import READER_ROLE
    from monitoring_pipeline.storage.database import with_login

    return with_login(database_url, READER_ROLE, pg_credentials.reader_password)


@pytest.fixture
def database_url(pg_admin_url: str) -> str:
    """URL of a fresh, migrated database for this test."""
    from monitoring_pipeline.storage.database import with_database

    name = f"test_{os.getpid()}_{next(_counter)}"
    create_database_from_template(pg_admin_url, name)
    return with_database(pg_admin_url, name)


@pytest.fixture
def make_database_url(pg_admin_url: str) -> Callable[[], str]:
    """Makes fresh, migrated databases on demand (for a test that compares two worlds)."""
    from monitoring_pipeline.storage.database import with_database

    def make() -> str:
        name = f"test_{os.getpid()}_{next(_counter)}"
        create_database_from_template(pg_admin_url, name)
        return with_database(pg_admin_url, name)

    return make


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    from monitoring_pipeline.storage.database import create_engine

    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def dagster_storage_url(pg_admin_url: str) -> str:
    from monitoring_pipeline.storage.database import create_database_if_missing, with_database

    create_database_if_missing(pg_admin_url, "dagster_test")
    return with_database(pg_admin_url, "dagster_test")


@pytest.fixture
def dagster_instance(dagster_storage_url: str, tmp_path: Path):
    """A Dagster instance whose runs and events live in the embedded PostgreSQL."""
    import dagster as dg

    with dg.instance_for_test(
        overrides=instance_storage_config(dagster_storage_url),
        temp_dir=str(tmp_path),
    ) as instance:
        yield instance


@pytest.fixture(scope="module")
def module_database_url(pg_admin_url: str) -> str:
    """URL of a fresh, migrated database shared by the tests of one module."""
    from monitoring_pipeline.storage.database import with_database

    name = f"test_{os.getpid()}_{next(_counter)}"
    create_database_from_template(pg_admin_url, name)
    return with_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def module_engine(module_database_url: str) -> Iterator[sa.Engine]:
    from monitoring_pipeline.storage.database import create_engine

    engine = create_engine(module_database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def module_dagster_instance(dagster_storage_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A Postgres-backed Dagster instance shared by the tests of one module."""
    import dagster as dg

    with dg.instance_for_test(
        overrides=instance_storage_config(dagster_storage_url),
        temp_dir=str(tmp_path_factory.mktemp("dagster")),
    ) as instance:
        yield instance
