"""dbbackup --exclude-tables (and the flags MySQL refuses) against the real MariaDB server."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_rclone.codecs import zstd
from tests.plugins.mysql.test_roundtrip import ALIAS, populate, snapshot
from tests.testapp.models import Author, Note

pytestmark = [pytest.mark.mysql, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]


def test_exclude_tables_leaves_those_tables_alone(mysql_db: str, remote: Path) -> None:
    populate()
    before = snapshot()
    call_command("dbbackup", "-d", ALIAS, "--exclude-tables", "testapp_note", verbosity=0)
    dump = zstd.decompress(next(p for p in (remote / "db").iterdir() if p.name.endswith(".sql.zst")).read_bytes())
    assert b"CREATE TABLE `testapp_author`" in dump
    assert b"testapp_note" not in dump
    Author.objects.using(ALIAS).create(name="Carol")
    Note.objects.using(ALIAS).create(text="written after the backup")
    call_command("dbrestore", "-d", ALIAS, "--noinput", verbosity=0)
    authors, books, notes = snapshot()
    assert [authors, books] == before[:2]
    assert [text for _, text in notes] == ["x" * 10000, "written after the backup"]


def test_schema_and_no_drop_are_refused(mysql_db: str, remote: Path) -> None:
    with pytest.raises(CommandError, match="--schema is not supported by MysqlDumpConnector"):
        call_command("dbbackup", "-d", ALIAS, "--schema", "public", verbosity=0)
    assert not (remote / "db").exists() or not any((remote / "db").iterdir())
    call_command("dbbackup", "-d", ALIAS, verbosity=0)
    with pytest.raises(CommandError, match="--no-drop is not supported by MysqlDumpConnector"):
        call_command("dbrestore", "-d", ALIAS, "--noinput", "--no-drop", verbosity=0)
