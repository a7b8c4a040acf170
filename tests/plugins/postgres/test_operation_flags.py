"""dbbackup --exclude-tables / --schema and dbrestore --no-drop against the real PostgreSQL server."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.plugins.postgres.data import change, populate, snapshot, sql

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

PG_DUMP = "django_rclone_postgres.connectors.PgDumpConnector"
PG_SQL = "django_rclone_postgres.connectors.PgDumpSqlConnector"
CONNECTORS = pytest.mark.parametrize("connector", [PG_DUMP, PG_SQL], ids=["custom", "sql"])

Settings = Callable[..., None]


def restore(*extra: str) -> None:
    call_command("dbrestore", "-d", "postgres", "--noinput", *extra, verbosity=0)


@CONNECTORS
def test_exclude_tables_leaves_those_tables_alone(
    pg_db: str, rclone_settings: Settings, remote: Path, connector: str
) -> None:
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": connector}})
    populate(pg_db)
    before = snapshot(pg_db)
    call_command("dbbackup", "-d", "postgres", "--exclude-tables", "testapp_note", verbosity=0)
    change(pg_db)  # also deletes a note
    changed = snapshot(pg_db)
    restore()
    authors, books, notes = snapshot(pg_db)
    assert [authors, books] == before[:2]
    assert notes == changed[2]  # not in the backup: neither dropped nor restored


@pytest.fixture
def extra_schema(pg_db: str) -> Iterator[None]:
    sql(pg_db, "CREATE SCHEMA extra; CREATE TABLE extra.kept (v text); INSERT INTO extra.kept VALUES ('one')")
    yield
    sql(pg_db, "DROP SCHEMA IF EXISTS extra CASCADE")


@CONNECTORS
def test_schema_flag_dumps_only_that_schema(
    pg_db: str, rclone_settings: Settings, remote: Path, connector: str, extra_schema: None
) -> None:
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": connector}})
    populate(pg_db)
    call_command("dbbackup", "-d", "postgres", "--schema", "extra", verbosity=0)
    sql(pg_db, "UPDATE extra.kept SET v = 'changed'")
    change(pg_db)
    changed = snapshot(pg_db)
    restore()
    assert sql(pg_db, "SELECT v FROM extra.kept") == [("one",)]
    assert snapshot(pg_db) == changed  # public was not in the backup


@pytest.fixture
def extra_table(pg_db: str) -> Iterator[None]:
    yield
    sql(pg_db, "DROP TABLE IF EXISTS public.extra_kept")


def test_no_drop_restores_without_dropping(pg_db: str, remote: Path, extra_table: None) -> None:
    """Default connector settings (DROP on): --no-drop turns it off for this restore only."""
    populate(pg_db)
    before = snapshot(pg_db)
    call_command("dbbackup", "-d", "postgres", verbosity=0)
    change(pg_db)
    changed = snapshot(pg_db)
    # Over existing tables, a restore that drops nothing must fail on them, and change nothing.
    with pytest.raises(CommandError, match="already exists"):
        restore("--no-drop")
    assert snapshot(pg_db) == changed
    # Into a database without the backup's objects but with a table of its own: restored, and the
    # extra table is kept.
    sql(pg_db, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    sql(pg_db, "CREATE TABLE public.extra_kept (v text); INSERT INTO public.extra_kept VALUES ('mine')")
    restore("--no-drop")
    assert snapshot(pg_db) == before
    assert sql(pg_db, "SELECT v FROM public.extra_kept") == [("mine",)]
    # And the usual restore (DROP) still replaces the data afterwards.
    change(pg_db)
    restore()
    assert snapshot(pg_db) == before


def test_no_drop_is_refused_for_plain_sql_dumps(pg_db: str, rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": PG_SQL}})
    populate(pg_db)
    call_command("dbbackup", "-d", "postgres", verbosity=0)
    change(pg_db)
    changed = snapshot(pg_db)
    with pytest.raises(CommandError, match="--no-drop is not supported by PgDumpSqlConnector"):
        restore("--no-drop")
    assert snapshot(pg_db) == changed


@pytest.mark.mysql
def test_one_run_backs_up_three_engines(pg_db: str, mysql_db: str, sqlite_db: str, remote: Path) -> None:
    """``dbbackup -d postgres,mysql,default``: one backup and manifest each, from real servers."""
    populate(pg_db)
    before = snapshot(pg_db)
    out = io.StringIO()
    call_command("dbbackup", "-d", "postgres,mysql", "-d", "default", stdout=out)
    assert out.getvalue().splitlines()[-1] == "Summary: 3 of 3 database(s) backed up."
    made = sorted(p.name for p in (remote / "db").iterdir() if not p.name.endswith(".manifest.json"))
    assert [name.split("-")[0] for name in made] == ["default", "mysql", "postgres"]
    for name in made:
        assert json.loads((remote / "db" / f"{name}.manifest.json").read_text())["database"] == name.split("-")[0]
    change(pg_db)
    restore()
    assert snapshot(pg_db) == before
