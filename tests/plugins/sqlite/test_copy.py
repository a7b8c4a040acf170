"""SqliteCPConnector: plain file copy, real SQLite and real rclone, through the management commands."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections

from tests.plugins.sqlite.rawfile_helpers import (
    assert_unverified_restore_fails_and_changes_nothing,
    backup_object,
    corrupt,
    db_path,
    digest,
    integrity,
    leftovers,
)
from tests.plugins.sqlite.test_roundtrip import populate, snapshot
from tests.testapp.models import Author, Note

# These tests read and damage the stored SQLite file itself, so they run without the compression
# stage (COMPRESSION "none"); test_compression.py runs these connectors through every codec.
pytestmark = pytest.mark.usefixtures("no_stray_processes")

CONNECTOR = "django_rclone_sqlite.SqliteCPConnector"


def test_round_trip_exact_rows(sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path) -> None:
    rclone_settings(CONNECTORS={"default": CONNECTOR}, COMPRESSION="none")
    populate()
    before = snapshot()
    connections["default"].close()
    original = digest(db_path())
    call_command("dbbackup", verbosity=0)
    assert digest(backup_object(remote)) == original  # a byte-for-byte copy
    Author.objects.create(name="Carol")
    Note.objects.all().delete()
    assert snapshot() != before
    connections["default"].close()
    call_command("dbrestore", "--noinput", verbosity=0)
    connections["default"].close()  # the rename gives the path a new file; reopen it
    assert snapshot() == before
    assert integrity(db_path()) == [("ok",)]
    assert leftovers(db_path().parent) == []


def test_dump_refuses_database_with_pending_wal(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": CONNECTOR}, COMPRESSION="none")
    connections["default"].close()
    conn = sqlite3.connect(db_path(), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("INSERT INTO testapp_note (text) VALUES ('only in the wal')")
        assert Path(f"{db_path()}-wal").stat().st_size > 0
        with pytest.raises(Exception, match="-wal is not empty"):
            call_command("dbbackup", verbosity=0)
    finally:
        conn.close()
    assert not [p for p in remote.rglob("*") if p.is_file() and ".db" in p.name and "manifest" not in p.name]


def test_corrupt_backup_leaves_database_untouched(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": CONNECTOR}, COMPRESSION="none")
    populate()
    Note.objects.bulk_create([Note(text="c" * 2000) for _ in range(200)])
    connections["default"].close()
    call_command("dbbackup", verbosity=0)
    corrupt(backup_object(remote))
    assert_unverified_restore_fails_and_changes_nothing(r"integrity_check|malformed|not a valid")


def test_backup_connector_restores_a_copy_backup(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": CONNECTOR}, COMPRESSION="none")
    populate()
    before = snapshot()
    connections["default"].close()
    call_command("dbbackup", verbosity=0)
    Author.objects.create(name="Carol")
    rclone_settings(CONNECTORS={"default": "django_rclone_sqlite.SqliteBackupConnector"}, COMPRESSION="none")
    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == before
