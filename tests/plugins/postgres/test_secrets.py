"""Passwords never appear on any process's command line while a dump or restore runs.

A thread reads ``/proc/*/cmdline`` of every process in a tight loop during ``dbbackup`` and
``dbrestore``; the test also checks that it really saw the PostgreSQL tools (so a poller that
missed everything cannot pass) and that they got the password through their environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.plugins.postgres.data import populate
from tests.servers.postgres import PostgresServer
from tests.settings import DB_PASSWORD

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]


class ProcessWatcher:
    """Records every command line (and, for PostgreSQL tools, the PGPASSWORD it was given)."""

    def __init__(self) -> None:
        self.cmdlines: dict[int, list[str]] = {}
        self.pgpasswords: dict[str, set[str]] = {}
        self._stop = threading.Event()

    def _sweep(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                words = [w.decode(errors="replace") for w in (entry / "cmdline").read_bytes().split(b"\0") if w]
            except OSError:
                continue
            if not words:
                continue
            self.cmdlines[int(entry.name)] = words
            tool = Path(words[0]).name
            if tool in ("pg_dump", "pg_restore", "psql"):
                try:
                    environ = (entry / "environ").read_bytes().split(b"\0")
                except OSError:
                    continue
                for item in environ:
                    if item.startswith(b"PGPASSWORD="):
                        self.pgpasswords.setdefault(tool, set()).add(item[11:].decode())

    def run(self) -> None:
        while not self._stop.is_set():
            self._sweep()

    @contextmanager
    def watching(self) -> Iterator[ProcessWatcher]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def tools(self) -> set[str]:
        return {Path(words[0]).name for words in self.cmdlines.values()}

    def leaks(self, secret: str) -> list[list[str]]:
        return [words for words in self.cmdlines.values() if any(secret in w for w in words)]


def test_password_never_in_argv_during_backup_and_restore(pg_db: str, remote: Path) -> None:
    populate(pg_db, notes=300, note_size=40_000)  # big enough that pg_dump and pg_restore run for a while
    with ProcessWatcher().watching() as watcher:
        call_command("dbbackup", "-d", pg_db, verbosity=0)
        call_command("dbrestore", "-d", pg_db, "--noinput", verbosity=0)
    assert {"pg_dump", "pg_restore", "rclone"} <= watcher.tools()
    assert watcher.leaks(DB_PASSWORD) == []
    assert watcher.pgpasswords.get("pg_dump") == {DB_PASSWORD}
    assert watcher.pgpasswords.get("pg_restore") == {DB_PASSWORD}


@pytest.mark.postgis
def test_admin_password_never_in_argv(
    postgis_db: str, postgres_server: PostgresServer, rclone_settings: Callable[..., None]
) -> None:
    rclone_settings(
        CONNECTORS={
            postgis_db: {"ADMIN_USER": postgres_server.admin_user, "ADMIN_PASSWORD": postgres_server.admin_password}
        }
    )
    populate(postgis_db, notes=300, note_size=40_000)
    with ProcessWatcher().watching() as watcher:
        call_command("dbbackup", "-d", postgis_db, verbosity=0)
        call_command("dbrestore", "-d", postgis_db, "--noinput", verbosity=0)
    assert {"pg_dump", "pg_restore", "psql"} <= watcher.tools()
    assert watcher.leaks(DB_PASSWORD) == []
    assert watcher.leaks(postgres_server.admin_password) == []
    # psql ran twice: the extension query as the app role, CREATE EXTENSION as the admin role.
    assert watcher.pgpasswords.get("psql", set()) <= {DB_PASSWORD, postgres_server.admin_password}
    assert postgres_server.admin_password in watcher.pgpasswords.get("psql", set())
