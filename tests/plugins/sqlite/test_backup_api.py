"""SqliteBackupConnector: real SQLite backup API, real rclone, through the management commands."""

from __future__ import annotations

import sqlite3
import threading
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
    integrity,
    leftovers,
)
from tests.plugins.sqlite.test_roundtrip import populate, snapshot
from tests.testapp.models import Author, Note

# These tests read and damage the stored SQLite file itself, so they run without the compression
# stage (COMPRESSION "none"); test_compression.py runs these connectors through every codec.
pytestmark = pytest.mark.usefixtures("no_stray_processes")

CONNECTOR = "django_rclone_sqlite.SqliteBackupConnector"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A TMPDIR of our own, inherited by the dump helper, so leftover temporary copies show."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def test_round_trip_exact_rows_and_no_temp_files(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path, private_tmp: Path
) -> None:
    rclone_settings(CONNECTORS={"default": CONNECTOR}, COMPRESSION="none")
    populate()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    assert list(private_tmp.iterdir()) == []
    obj = backup_object(remote)
    assert obj.name.endswith(".db") or ".db." in obj.name
    assert obj.read_bytes()[:16] == b"SQLite format 3\x00"
    Author.objects.create(name="Carol")
    Note.objects.all().delete()
    assert snapshot() != before
    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == before
    assert integrity(db_path()) == [("ok",)]
    assert leftovers(db_path().parent) == []
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_backup_is_consistent_while_another_connection_writes(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path, journal_mode: str
) -> None:
    rclone_settings(CONNECTORS={"default": CONNECTOR}, COMPRESSION="none")
    with connections["default"].cursor() as cursor:
        cursor.execute(f"PRAGMA journal_mode={journal_mode}")
    # Enough data that the copy takes a while, so the writer runs during it.
    Note.objects.bulk_create([Note(text="p" * 4000) for _ in range(3000)])
    first_writer_pk = Note.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1
    connections["default"].close()
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        conn = sqlite3.connect(db_path(), timeout=60, isolation_level=None)
        try:
            i = 0
            while not stop.is_set():
                # Two rows per transaction: a torn copy would show one without the other.
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO testapp_note (text) VALUES (?)", (f"w{i}a",))
                conn.execute("INSERT INTO testapp_note (text) VALUES (?)", (f"w{i}b",))
                conn.execute("COMMIT")
                written.append(i)
                i += 1
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        at_backup_start = len(written)
        call_command("dbbackup", verbosity=0)
        at_backup_end = len(written)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert at_backup_end > at_backup_start, "the writer made no progress while the backup ran"
    call_command("dbrestore", "--noinput", verbosity=0)
    assert integrity(db_path()) == [("ok",)]
    texts = list(Note.objects.filter(pk__gte=first_writer_pk).order_by("pk").values_list("text", flat=True))
    assert len(texts) % 2 == 0
    committed = len(texts) // 2
    assert texts == [t for i in range(committed) for t in (f"w{i}a", f"w{i}b")]
    # The copy holds the transactions committed before it finished, and at least the first 20.
    assert 20 <= committed <= at_backup_end


def test_corrupt_backup_leaves_database_untouched(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": CONNECTOR}, COMPRESSION="none")
    populate()
    Note.objects.bulk_create([Note(text="c" * 2000) for _ in range(200)])
    call_command("dbbackup", verbosity=0)
    corrupt(backup_object(remote))
    assert_unverified_restore_fails_and_changes_nothing(r"integrity_check|malformed|not a valid")


def test_truncated_backup_leaves_database_untouched(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": CONNECTOR}, COMPRESSION="none")
    populate()
    call_command("dbbackup", verbosity=0)
    obj = backup_object(remote)
    obj.write_bytes(obj.read_bytes()[:4096])
    assert_unverified_restore_fails_and_changes_nothing(r"malformed|integrity_check|not a valid")
