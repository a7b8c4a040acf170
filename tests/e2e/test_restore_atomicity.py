"""A failed, refused or interrupted restore leaves the database exactly as it was: SQLite and PostgreSQL.

SQLite restores into a scratch file that is swapped in only after the whole stream succeeded;
PostgreSQL restores in one transaction. Each case backs up ~6 MB of real rows, changes them, and
breaks the restore in the middle of the stream (a changed byte the checksum catches, an invalid
statement with ``--skip-verify``, ``rclone cat`` dying, SIGINT/SIGTERM to ``manage.py``). The
MariaDB cases are in tests/plugins/mysql/test_atomic_restore.py.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.core.conftest import fake_rclone, start, wait_for
from tests.plugins.postgres.data import change, populate, snapshot

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

__all__ = ["fake_rclone"]  # the fault-injecting rclone fixture of the core tests

pytestmark = pytest.mark.usefixtures("no_stray_processes")

PG = [pytest.mark.postgres, pytest.mark.integration]
#: (alias fixture, connector option for the alias or None, the statement that starts the notes' rows)
ENGINES = [
    pytest.param(("sqlite_db", None, b"INSERT INTO testapp_note VALUES("), id="sqlite"),
    pytest.param(("pg_db", "django_rclone_postgres.connectors.PgDumpConnector", None), id="postgres-custom", marks=PG),
    pytest.param(
        ("pg_db", "django_rclone_postgres.connectors.PgDumpSqlConnector", b"COPY public.testapp_note "),
        id="postgres-sql",
        marks=PG,
    ),
]


class Case:
    """One engine's database, backed up and then changed."""

    def __init__(self, request: pytest.FixtureRequest, remote: Path, rclone_settings: Callable[..., None]) -> None:
        fixture, self.connector, self.note_statement = request.param
        self.alias: str = request.getfixturevalue(fixture)
        self.settings: dict[str, Any] = {"REMOTE": str(remote)}
        if self.connector:
            self.settings["CONNECTORS"] = {self.alias: {"CONNECTOR": self.connector}}
        rclone_settings(**{k: v for k, v in self.settings.items() if k != "REMOTE"})
        self.rclone_settings = rclone_settings
        populate(self.alias, notes=600, note_size=10_000)
        call_command("dbbackup", "-d", self.alias, verbosity=0)
        (self.backup,) = [p for p in remote.rglob("*") if p.is_file() and not p.name.endswith(".manifest.json")]
        change(self.alias)
        self.changed = snapshot(self.alias)

    def use(self, **keys: Any) -> None:
        self.rclone_settings(**{k: v for k, v in self.settings.items() if k != "REMOTE"}, **keys)

    def restore(self, *extra: str) -> None:
        call_command("dbrestore", "-d", self.alias, "--noinput", *extra, verbosity=0)

    def assert_unchanged(self) -> None:
        assert snapshot(self.alias) == self.changed


@pytest.fixture(params=ENGINES)
def case(request: pytest.FixtureRequest, remote: Path, rclone_settings: Callable[..., None]) -> Case:
    return Case(request, remote, rclone_settings)


def test_altered_byte_mid_stream_changes_nothing(case: Case) -> None:
    data = bytearray(case.backup.read_bytes())
    data[len(data) // 2] ^= 0x01
    case.backup.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="does not match its manifest"):
        case.restore()
    case.assert_unchanged()


def test_invalid_data_mid_stream_changes_nothing(case: Case) -> None:
    data = bytearray(case.backup.read_bytes())
    if case.note_statement is None:  # a compressed archive: any damage in the middle is invalid for the tool
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    else:
        at = data.find(case.note_statement, len(data) // 4)  # a row in the middle (SQLite: one INSERT a row)
        at = at if at >= 0 else data.index(case.note_statement)  # PostgreSQL: the one COPY, after the authors
        new = case.note_statement.replace(b"testapp_note", b"testapp_nope")
        data[at : at + len(new)] = new
    case.backup.write_bytes(bytes(data))
    with pytest.raises(CommandError) as caught:
        case.restore("--skip-verify")
    assert "restore of database" in str(caught.value)
    case.assert_unchanged()


def test_rclone_dying_mid_restore_changes_nothing(case: Case, fake_rclone: Callable[[str], str]) -> None:
    case.use(RCLONE_BINARY=fake_rclone(f"cat:{case.backup.stat().st_size // 2}"))
    with pytest.raises(CommandError, match=r"^rclone cat.*read error after"):
        case.restore()
    case.assert_unchanged()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_restore_changes_nothing(
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_rclone: Callable[[str], str],
    sig: signal.Signals,
) -> None:
    wrapper = fake_rclone(f"cat-hang:{case.backup.stat().st_size // 2}")
    mark = tmp_path / "hanging"
    monkeypatch.setenv("STANDIN_RCLONE_HANG_MARK", str(mark))
    proc = start(["dbrestore", "-d", case.alias, "--noinput"], {**case.settings, "RCLONE_BINARY": wrapper})
    wait_for(mark.exists, timeout=120)
    time.sleep(1.0)  # the restore tool works through the first half
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert err.strip().splitlines()[-1] == (
        f"CommandError: interrupted by {sig.name}; child processes stopped, nothing was published"
    )
    case.assert_unchanged()
