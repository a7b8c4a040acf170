"""Passwords never appear on any process's command line while a dump or restore runs.

A thread reads ``/proc/*/cmdline`` of every process in a tight loop during ``dbbackup`` and
``dbrestore``; the test also checks that it really saw the PostgreSQL tools (so a poller that
missed everything cannot pass) and that they got the password through their environment.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.plugins.postgres.data import populate
from tests.processes import ProcessWatch
from tests.servers.postgres import PostgresServer
from tests.settings import DB_PASSWORD

PG_TOOLS = {"pg_dump", "pg_restore", "psql"}

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]


def test_password_never_in_argv_during_backup_and_restore(pg_db: str, remote: Path) -> None:
    populate(pg_db, notes=300, note_size=40_000)  # big enough that pg_dump and pg_restore run for a while
    with ProcessWatch(PG_TOOLS) as watcher:
        call_command("dbbackup", "-d", pg_db, verbosity=0)
        call_command("dbrestore", "-d", pg_db, "--noinput", verbosity=0)
    assert {"pg_dump", "pg_restore", "rclone"} <= watcher.tools()
    assert watcher.leaks(DB_PASSWORD) == []
    assert watcher.env_values("pg_dump", "PGPASSWORD") == {DB_PASSWORD}
    assert watcher.env_values("pg_restore", "PGPASSWORD") == {DB_PASSWORD}


def psql_recorder(folder: Path) -> tuple[Path, Path]:
    """A stand-in ``psql`` that logs its argv and PGPASSWORD, then runs the real psql.

    The admin psql call (``CREATE EXTENSION``) lives a few milliseconds; polling ``/proc`` can miss
    it on a busy machine, so its environment and arguments are recorded by a wrapper instead.
    """
    real = shutil.which("psql")
    assert real, "psql is not on PATH"
    log = folder / "psql.log"
    wrapper = folder / "psql"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'{{ printf "CALL\\n"; printf "PGPASSWORD=%s\\n" "$PGPASSWORD"; printf "ARG=%s\\n" "$@"; }} >> "{log}"\n'
        f'exec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, log


@pytest.mark.postgis
def test_admin_password_never_in_argv(
    postgis_db: str, postgres_server: PostgresServer, rclone_settings: Callable[..., None], tmp_path: Path
) -> None:
    wrapper, log = psql_recorder(tmp_path)
    rclone_settings(
        CONNECTORS={
            postgis_db: {
                "ADMIN_USER": postgres_server.admin_user,
                "ADMIN_PASSWORD": postgres_server.admin_password,
                "PSQL_CMD": str(wrapper),
            }
        }
    )
    populate(postgis_db, notes=300, note_size=40_000)
    with ProcessWatch(PG_TOOLS) as watcher:
        call_command("dbbackup", "-d", postgis_db, verbosity=0)
        call_command("dbrestore", "-d", postgis_db, "--noinput", verbosity=0)
    assert {"pg_dump", "pg_restore"} <= watcher.tools()
    assert watcher.leaks(DB_PASSWORD) == []
    assert watcher.leaks(postgres_server.admin_password) == []
    # psql ran at least twice: the extension query as the app role, CREATE EXTENSION as the admin.
    lines = log.read_text().splitlines()
    assert lines.count("CALL") >= 2
    passwords = {line.removeprefix("PGPASSWORD=") for line in lines if line.startswith("PGPASSWORD=")}
    assert passwords == {DB_PASSWORD, postgres_server.admin_password}
    arguments = [line for line in lines if line.startswith("ARG=")]
    assert any("CREATE EXTENSION" in arg for arg in arguments)
    assert not [arg for arg in arguments if DB_PASSWORD in arg or postgres_server.admin_password in arg]
