"""SQLite backups that report success are good: locked databases, live writers, cut-short dumps.

Real sqlite3 shell, real rclone on a local-folder remote, real lock holders and writers in other
processes. A failed backup must fail the command with one clear line and leave nothing listed.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from django_rclone.api import list_backups
from tests.plugins.sqlite.test_roundtrip import populate, snapshot
from tests.testapp.models import Author, Book, Note

pytestmark = pytest.mark.usefixtures("no_stray_processes")

STANDINS = Path(__file__).parents[2] / "standins"

#: Holds BEGIN EXCLUSIVE on the database (argv[1]) for argv[2] seconds, after adding one note.
LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO testapp_note (text) VALUES ('written under the lock')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

#: Commits transactions in a loop until argv[2] exists: each adds one author and two books, so a
#: consistent snapshot holds the first k transactions whole and nothing of transaction k+1.
WRITER = """
import sqlite3, sys, os, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
i = 0
print("writing", flush=True)
while not os.path.exists(sys.argv[2]):
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.execute("INSERT INTO testapp_author (name, bio) VALUES (?, '')", (f"w-{i:06d}",))
    for title in ("a", "b"):
        conn.execute(
            "INSERT INTO testapp_book (author_id, title, price) VALUES (?, ?, 1)", (cur.lastrowid, f"{title}-{i}")
        )
    conn.execute("COMMIT")
    i += 1
print(i, flush=True)
"""


def db_path() -> str:
    return str(connections.databases["default"]["NAME"])


@contextlib.contextmanager
def exclusive_lock(seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another connection holds an exclusive lock for ``seconds`` (and then commits one note)."""
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, db_path(), str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.wait(timeout=seconds + 60)
        assert proc.returncode == 0


def nothing_listed(remote: Path) -> None:
    assert list_backups() == []
    out = StringIO()
    call_command("listbackups", stdout=out)
    assert out.getvalue().strip() == "No backups found."
    assert [p for p in (remote / "db").rglob("*") if p.is_file()] == [] if (remote / "db").exists() else True


def test_backup_of_a_locked_database_fails_after_the_busy_timeout(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None]
) -> None:
    populate()
    connections["default"].close()
    rclone_settings(CONNECTORS={"default": {"BUSY_TIMEOUT": 0.5}})
    with exclusive_lock(6), pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    message = str(caught.value)
    assert "\n" not in message
    assert "database is locked" in message
    nothing_listed(remote)


def test_lock_released_within_the_busy_timeout_gives_a_backup_that_restores(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None]
) -> None:
    populate()
    connections["default"].close()
    rclone_settings(CONNECTORS={"default": {"BUSY_TIMEOUT": 30}})
    with exclusive_lock(1.5):
        call_command("dbbackup", verbosity=0)
    expected = snapshot()  # includes the note committed by the lock holder
    assert Note.objects.filter(text="written under the lock").exists()
    Author.objects.create(name="after the backup")
    Note.objects.all().delete()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == expected
    assert [e.kind for e in list_backups()] == ["pre-restore", "backup"]  # the restore's undo backup first


def test_backup_while_a_writer_commits_in_a_loop_is_consistent(
    sqlite_db: str, remote: Path, tmp_path: Path, rclone_settings: Callable[..., None]
) -> None:
    Note.objects.bulk_create([Note(text=f"{i:05d} " + "n" * 2000) for i in range(5000)])  # a dump that takes a while
    connections["default"].close()
    rclone_settings(CONNECTORS={"default": {"BUSY_TIMEOUT": 30}})
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, db_path(), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "writing"
        for _ in range(4):
            call_command("dbbackup", verbosity=0)
    finally:
        stop.touch()
        writer.wait(timeout=120)
    assert writer.returncode == 0
    backups = list_backups()
    assert len(backups) == 4
    for entry in backups:
        call_command("dbrestore", "--noinput", "--input-path", entry.name, verbosity=0)
        authors = list(Author.objects.filter(name__startswith="w-").order_by("name").values_list("name", flat=True))
        assert authors == [f"w-{i:06d}" for i in range(len(authors))]
        assert Book.objects.filter(author__name__startswith="w-").count() == 2 * len(authors)
        assert Note.objects.count() == 5000


def test_a_dump_cut_short_with_exit_status_0_is_refused(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None]
) -> None:
    populate()
    prefix = [sys.executable, str(STANDINS / "cut.py"), "--drop-last", "9", "--"]
    rclone_settings(CONNECTORS={"default": {"DUMP_PREFIX": prefix}})
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    message = str(caught.value)
    assert "sqlite3 (dump of database 'default') exited 0 but" in message
    assert "does not end with the dump's final COMMIT;" in message
    nothing_listed(remote)


@pytest.mark.parametrize("connector", ["SqliteBackupConnector", "SqliteCPConnector"])
def test_a_raw_file_dump_cut_short_is_refused(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None], connector: str
) -> None:
    populate()
    prefix = [sys.executable, str(STANDINS / "cut.py"), "--drop-last", "1000", "--"]
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": f"django_rclone_sqlite.{connector}", "DUMP_PREFIX": prefix}})
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    assert "but the database file's header says" in str(caught.value)
    nothing_listed(remote)


def test_backup_api_connector_waits_only_as_long_as_the_busy_timeout(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None]
) -> None:
    populate()
    connections["default"].close()
    rclone_settings(
        CONNECTORS={"default": {"CONNECTOR": "django_rclone_sqlite.SqliteBackupConnector", "BUSY_TIMEOUT": 0.5}}
    )
    with exclusive_lock(6), pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    assert "database is locked" in str(caught.value)
    assert "busy timeout (0.5 s)" in str(caught.value)
    nothing_listed(remote)


def test_backups_taken_while_restores_swap_the_file_in_are_whole(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None]
) -> None:
    """Restores (separate processes, as a deploy script would run them) swap database A and B in
    over and over while backups run: every committed backup restores to exactly A or exactly B."""
    from tests.core.conftest import start

    Note.objects.bulk_create([Note(text=f"a{i:05d} " + "a" * 1000) for i in range(3000)])
    state_a = snapshot()
    call_command("dbbackup", "-o", "a.sqlite3", verbosity=0)
    Note.objects.filter(pk__lte=1500).delete()
    Author.objects.create(name="only in B")
    state_b = snapshot()
    call_command("dbbackup", "-o", "b.sqlite3", verbosity=0)
    connections["default"].close()
    rclone_settings(CONNECTORS={"default": {"BUSY_TIMEOUT": 60}})
    settings = {"REMOTE": str(remote), "COMPRESSION": "none", "CONNECTORS": {"default": {"BUSY_TIMEOUT": 60}}}
    made = 0
    for name in ("a.sqlite3", "b.sqlite3", "a.sqlite3", "b.sqlite3"):
        proc = start(["dbrestore", "--noinput", "--input-path", name], settings)
        for _ in range(3):  # back up until the restore has finished (its swap happens at the end)
            call_command("dbbackup", verbosity=0)
            made += 1
            if proc.poll() is not None:
                break
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    taken = [e.name for e in list_backups() if e.name not in ("a.sqlite3", "b.sqlite3") and e.kind == "backup"]
    assert len(taken) == made
    for name in taken:
        call_command("dbrestore", "--noinput", "--input-path", name, verbosity=0)
        assert snapshot() in (state_a, state_b)


def test_a_dump_with_exclude_waits_only_as_long_as_the_busy_timeout(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None]
) -> None:
    populate()
    connections["default"].close()
    rclone_settings(CONNECTORS={"default": {"EXCLUDE": ["testapp_book"], "BUSY_TIMEOUT": 0.5}})
    with exclusive_lock(6), pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    assert "database is locked" in str(caught.value)
    nothing_listed(remote)
