"""EXCLUDE with the ``.dump`` SQLite connector: excluded tables are left out of the backup and keep
their live rows, schema and AUTOINCREMENT counter through a restore (django-dbbackup's meaning:
the dump does not carry them, so restoring does not touch them). The file connectors refuse it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tests.testapp.models import Author, Note

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = pytest.mark.usefixtures("no_stray_processes")

NOTE = "testapp_note"


def _raw(db: str, sql: str, *params: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _backup_bytes(remote: Path) -> bytes:
    [data] = [p for p in (remote / "db").iterdir() if p.suffix == ".sqlite3"]
    return data.read_bytes()


def test_excluded_table_is_not_dumped_and_its_live_rows_survive_a_restore(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": {"EXCLUDE": [NOTE]}})
    Author.objects.create(name="Ada")
    Note.objects.create(text="secret-in-backup")
    call_command("dbbackup", verbosity=0)
    dump = _backup_bytes(remote)
    assert b"secret-in-backup" not in dump
    assert b"Ada" in dump
    assert NOTE.encode() not in dump

    # Live changes after the backup: the included table changes back, the excluded one keeps them.
    Author.objects.create(name="Bob")
    Note.objects.all().delete()
    kept = [Note.objects.create(text=f"live-{i}").pk for i in range(3)]
    db = connection.settings_dict["NAME"]
    sequence_before = _raw(db, "SELECT seq FROM sqlite_sequence WHERE name = ?", NOTE)
    indexes_before = _raw(db, "SELECT name, sql FROM sqlite_master WHERE tbl_name = ? ORDER BY name", NOTE)
    connection.close()

    call_command("dbrestore", "--noinput", verbosity=0)

    assert list(Author.objects.values_list("name", flat=True)) == ["Ada"]
    assert list(Note.objects.order_by("pk").values_list("pk", "text")) == [
        (pk, f"live-{i}") for i, pk in enumerate(kept)
    ]
    connection.close()
    assert _raw(db, "SELECT seq FROM sqlite_sequence WHERE name = ?", NOTE) == sequence_before
    assert _raw(db, "SELECT name, sql FROM sqlite_master WHERE tbl_name = ? ORDER BY name", NOTE) == indexes_before
    assert _raw(db, "PRAGMA integrity_check") == [("ok",)]
    assert Note.objects.create(text="next").pk > max(kept)


def test_exclude_at_restore_time_keeps_the_live_table_even_if_the_backup_has_it(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path
) -> None:
    """A backup made before the exclusion was set still leaves the excluded table alone."""
    Note.objects.create(text="old")
    call_command("dbbackup", verbosity=0)
    Note.objects.all().delete()
    Note.objects.create(text="live")
    rclone_settings(CONNECTORS={"default": {"EXCLUDE": [NOTE]}})
    connection.close()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert list(Note.objects.values_list("text", flat=True)) == ["live"]


def test_exclude_tables_flag_for_one_run(sqlite_db: str, remote: Path) -> None:
    Note.objects.create(text="flagged-out")
    call_command("dbbackup", "--exclude-tables", NOTE, verbosity=0)
    assert b"flagged-out" not in _backup_bytes(remote)


@pytest.mark.parametrize(
    "connector", ["django_rclone_sqlite.SqliteBackupConnector", "django_rclone_sqlite.SqliteCPConnector"]
)
def test_file_connectors_still_refuse_exclude_and_name_the_dump_connector(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path, connector: str
) -> None:
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": connector, "EXCLUDE": [NOTE]}})
    with pytest.raises(CommandError, match=r"does not support the EXCLUDE option.*SqliteConnector"):
        call_command("dbbackup", verbosity=0)
    assert [p for p in remote.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("bad", ["testapp_note", ["sqlite_sequence"], [""]])
def test_exclude_must_be_a_list_of_user_tables(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path, bad: Any
) -> None:
    rclone_settings(CONNECTORS={"default": {"EXCLUDE": bad}})
    with pytest.raises(CommandError, match="Connector option EXCLUDE for database 'default'"):
        call_command("dbbackup", verbosity=0)
    assert [p for p in remote.rglob("*") if p.is_file()] == []


def test_excluded_table_names_are_quoted(sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path) -> None:
    """A table whose name needs quoting (quotes, spaces, a semicolon) is excluded and kept like any other."""
    odd = 'odd "name"; DROP TABLE testapp_author; --'
    conn = sqlite3.connect(connection.settings_dict["NAME"])
    with conn:
        conn.execute(f"CREATE TABLE [{odd}] (v TEXT)")
        conn.execute(f"INSERT INTO [{odd}] VALUES ('kept')")  # noqa: S608 - a test table name
    conn.close()
    rclone_settings(CONNECTORS={"default": {"EXCLUDE": [odd]}})
    Author.objects.create(name="Ada")
    call_command("dbbackup", verbosity=0)
    assert b"kept" not in _backup_bytes(remote)
    connection.close()
    call_command("dbrestore", "--noinput", verbosity=0)
    db = connection.settings_dict["NAME"]
    assert _raw(db, f"SELECT v FROM [{odd}]") == [("kept",)]  # noqa: S608
    assert list(Author.objects.values_list("name", flat=True)) == ["Ada"]


def test_restore_with_exclude_onto_a_missing_database_creates_it_from_the_backup(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path
) -> None:
    """Nothing to keep when the live file is gone (a new machine): the backup alone is restored."""
    rclone_settings(CONNECTORS={"default": {"EXCLUDE": [NOTE]}})
    Author.objects.create(name="Ada")
    call_command("dbbackup", verbosity=0)
    connection.close()
    db = Path(connection.settings_dict["NAME"])
    db.unlink()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert _raw(str(db), "SELECT name FROM testapp_author") == [("Ada",)]
    assert _raw(str(db), "SELECT name FROM sqlite_master WHERE name = ?", NOTE) == []
