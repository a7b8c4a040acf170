"""MariaDB backups under lock contention and with incomplete dumps: a correct backup, or a failed
command with nothing listed. Real server, real mariadb-dump, real rclone."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import MySQLdb
import pytest
from django.core.management import CommandError, call_command

from django_rclone.api import list_backups
from tests.plugins.mysql.test_roundtrip import ALIAS, populate, snapshot
from tests.servers.mariadb import DATABASE, MariaDB
from tests.testapp.models import Author, Note

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = [pytest.mark.mysql, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

STANDINS = Path(__file__).parents[2] / "standins"
Settings = Callable[..., None]


@pytest.fixture
def root_session(mariadb_server: MariaDB) -> Iterator[Any]:
    """Another session on the server, as root, that the test can make hold locks."""
    conn = MySQLdb.connect(unix_socket=mariadb_server.socket, user="root", database=DATABASE)
    try:
        yield conn.cursor()
    finally:
        conn.close()


def nothing_listed(remote: Path) -> None:
    assert list_backups(ALIAS) == []
    assert not [p for p in remote.rglob("*.sql*") if p.is_file()]


def test_backup_under_flush_tables_with_read_lock_is_correct(mysql_db: str, remote: Path, root_session: Any) -> None:
    populate()
    before = snapshot()
    root_session.execute("FLUSH TABLES WITH READ LOCK")
    try:
        call_command("dbbackup", "--database", ALIAS, verbosity=0)
    finally:
        root_session.execute("UNLOCK TABLES")
    Author.objects.using(ALIAS).create(name="after the backup")
    Note.objects.using(ALIAS).all().delete()
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert snapshot() == before


@pytest.mark.timeout(120)
def test_backup_blocked_by_a_table_lock_fails_within_max_statement_time(
    mysql_db: str, remote: Path, root_session: Any, rclone_settings: Settings
) -> None:
    populate()
    rclone_settings(CONNECTORS={ALIAS: {"MAX_STATEMENT_TIME": 2}})
    root_session.execute("LOCK TABLES testapp_note WRITE")  # a metadata lock the dump's SELECT waits for
    try:
        with pytest.raises(CommandError) as caught:
            call_command("dbbackup", "--database", ALIAS, verbosity=0)
    finally:
        root_session.execute("UNLOCK TABLES")
    message = str(caught.value)
    assert "dump of database 'mysql'" in message
    assert "max_statement_time" in message.lower() or "interrupted" in message.lower()
    nothing_listed(remote)


def test_a_dump_without_its_trailer_is_refused(mysql_db: str, remote: Path, rclone_settings: Settings) -> None:
    populate()
    prefix = [sys.executable, str(STANDINS / "cut.py"), "--drop-last", "60", "--"]
    rclone_settings(CONNECTORS={ALIAS: {"DUMP_PREFIX": prefix}})
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", "--database", ALIAS, verbosity=0)
    message = str(caught.value)
    assert "(dump of database 'mysql') exited 0 but its output does not end with the tool's '-- Dump completed'" in (
        message
    )
    nothing_listed(remote)


def test_an_error_on_stderr_fails_a_dump_that_exited_0(mysql_db: str, remote: Path, rclone_settings: Settings) -> None:
    populate()
    error = "mariadb-dump: Got error: 2013: Lost connection"
    prefix = [sys.executable, str(STANDINS / "cut.py"), "--stderr", error, "--"]
    rclone_settings(CONNECTORS={ALIAS: {"DUMP_PREFIX": prefix}})
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", "--database", ALIAS, verbosity=0)
    assert "reported an error: mariadb-dump: Got error: 2013: Lost connection" in str(caught.value)
    nothing_listed(remote)


def test_skip_comments_in_the_suffix_skips_only_the_trailer_check(
    mysql_db: str, remote: Path, rclone_settings: Settings
) -> None:
    populate()
    before = snapshot()
    rclone_settings(CONNECTORS={ALIAS: {"DUMP_SUFFIX": "--skip-comments"}})
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    [obj] = [p for p in remote.rglob("*.sql") if p.is_file()]
    assert b"-- Dump completed" not in obj.read_bytes()
    Note.objects.using(ALIAS).all().delete()
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert snapshot() == before


def test_table_counts_are_kept_when_the_client_prints_them_at_once(
    mysql_db: str, remote: Path, rclone_settings: Settings, tmp_path: Path
) -> None:
    """The row-count session's first line ("snapshot-ready") and its counts can arrive in one read
    (a loaded machine, a client whose output is buffered): the counts must not be lost with it."""
    from django_rclone.operations.backup import backup

    populate()
    client = tmp_path / "mariadb-all-at-once"  # holds everything back, then writes it in one go
    client.write_text(
        '#!/bin/bash\nout=$(mariadb "$@"; s=$?; echo x; exit $s); status=$?\nprintf %s "${out%x}"\nexit $status\n'
    )
    client.chmod(0o755)
    rclone_settings(CONNECTORS={ALIAS: {"RESTORE_CMD": str(client)}})
    counts = backup(ALIAS).manifest.metadata["table_counts"]
    assert counts["testapp_author"] == 2
    assert counts["testapp_note"] == 1
