"""PostgreSQL backups under lock contention and with incomplete dumps: a failed command with nothing
listed, never a committed bad backup. Real server, real pg_dump/pg_restore, real rclone."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import CommandError, call_command

from django_rclone.api import list_backups
from django_rclone.exceptions import IncompleteDump
from django_rclone.resolution import resolve
from django_rclone.sample import StreamSample
from tests.plugins.postgres.data import populate, snapshot
from tests.servers.postgres import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

PG_DUMP = "django_rclone_postgres.connectors.PgDumpConnector"
PG_SQL = "django_rclone_postgres.connectors.PgDumpSqlConnector"
CONNECTORS = pytest.mark.parametrize("connector", [PG_DUMP, PG_SQL], ids=["custom", "sql"])
STANDINS = Path(__file__).parents[2] / "standins"
Settings = Callable[..., None]


def nothing_listed(remote: Path) -> None:
    assert list_backups("postgres") == []
    assert not [p for p in remote.rglob("*") if p.is_file() and p.suffix in (".dump", ".sql", ".json")]


@pytest.fixture
def table_locked(postgres_server: PostgresServer) -> Iterator[None]:
    """Another session holds ACCESS EXCLUSIVE on testapp_note until the test ends."""
    from django.db import connections

    db = connections.databases["postgres"]
    with psycopg.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user=postgres_server.admin_user,
        password=postgres_server.admin_password,
        dbname=db["NAME"],
    ) as conn:
        conn.execute("LOCK TABLE testapp_note IN ACCESS EXCLUSIVE MODE")
        yield
        conn.rollback()


@CONNECTORS
@pytest.mark.timeout(120)
def test_backup_blocked_by_an_access_exclusive_lock_fails_after_lock_wait_timeout(
    pg_db: str, remote: Path, rclone_settings: Settings, connector: str, table_locked: None
) -> None:
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": connector, "LOCK_WAIT_TIMEOUT": 1}})
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", "-d", "postgres", verbosity=0)
    message = str(caught.value)
    assert message.startswith("pg_dump (dump of database 'postgres') exited with status 1")
    assert "LOCK TABLE public.testapp_note IN ACCESS SHARE MODE" in message
    nothing_listed(remote)


@pytest.mark.parametrize(
    ("connector", "drop", "expected"),
    [
        (PG_DUMP, 7, "pg_restore cannot read the archive"),
        (PG_SQL, 120, "does not end with pg_dump's '-- PostgreSQL database dump complete' line"),
    ],
    ids=["custom", "sql"],
)
def test_a_dump_cut_short_with_exit_status_0_is_refused(
    pg_db: str, remote: Path, rclone_settings: Settings, connector: str, drop: int, expected: str
) -> None:
    populate(pg_db)
    prefix = [sys.executable, str(STANDINS / "cut.py"), "--drop-last", str(drop), "--"]
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": connector, "DUMP_PREFIX": prefix}})
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", "-d", "postgres", verbosity=0)
    assert "(dump of database 'postgres') exited 0 but" in str(caught.value)
    assert expected in str(caught.value)
    nothing_listed(remote)


@CONNECTORS
def test_an_error_on_stderr_fails_a_dump_that_exited_0(
    pg_db: str, remote: Path, rclone_settings: Settings, connector: str
) -> None:
    populate(pg_db)
    prefix = [sys.executable, str(STANDINS / "cut.py"), "--stderr", "pg_dump: error: query failed: boom", "--"]
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": connector, "DUMP_PREFIX": prefix}})
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", "-d", "postgres", verbosity=0)
    assert "reported an error: pg_dump: error: query failed: boom" in str(caught.value)
    nothing_listed(remote)


@CONNECTORS
def test_a_complete_dump_passes_the_check_and_restores(
    pg_db: str, remote: Path, rclone_settings: Settings, connector: str
) -> None:
    populate(pg_db, notes=500, note_size=20000)  # several MiB: larger than the sample's head
    before = snapshot(pg_db)
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": connector}})
    call_command("dbbackup", "-d", "postgres", verbosity=0)
    [entry] = list_backups("postgres")
    assert entry.size > 4 << 20
    call_command("dbrestore", "-d", "postgres", "--noinput", verbosity=0)
    assert snapshot(pg_db) == before


def real_archive(rclone_settings: Settings) -> tuple[Any, bytes]:
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": PG_DUMP}})
    connector = resolve("postgres").connector
    proc = connector.dump()
    out, _ = proc.communicate(timeout=120)
    connector.cleanup()
    assert proc.returncode == 0
    return connector, out


def sample_of(data: bytes, head_size: int) -> StreamSample:
    sample = StreamSample(head_size=head_size)
    for start in range(0, len(data), 65536):
        sample.feed(data[start : start + 65536])
    return sample


@pytest.mark.parametrize("head_size", [200, 64 * 1024], ids=["toc-longer-than-head", "toc-in-head"])
def test_archive_larger_than_the_head_is_checked_by_toc_and_end_of_data(
    pg_db: str, rclone_settings: Settings, head_size: int
) -> None:
    populate(pg_db, notes=100, note_size=4000)
    connector, archive = real_archive(rclone_settings)
    assert len(archive) > head_size
    connector.check_dump(sample_of(archive, head_size))  # the whole archive passes
    with pytest.raises(IncompleteDump, match="stops inside a data block"):
        connector.check_dump(sample_of(archive[:-3], head_size))
    garbage = b"PGDMP" + b"\xff" * 64 + archive[69:]
    if head_size > 200:
        with pytest.raises(IncompleteDump, match="cannot read the archive's table of contents"):
            connector.check_dump(sample_of(garbage, head_size))


@pytest.mark.parametrize("fmt", ["tar", "plain"])
def test_a_format_given_in_dump_suffix_is_checked_as_what_pg_dump_wrote(
    pg_db: str, remote: Path, rclone_settings: Settings, fmt: str
) -> None:
    populate(pg_db)
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": PG_DUMP, "DUMP_SUFFIX": f"--format={fmt}"}})
    call_command("dbbackup", "-d", "postgres", verbosity=0)
    assert len(list_backups("postgres")) == 1
    prefix = [sys.executable, str(STANDINS / "cut.py"), "--drop-last", "1500", "--"]
    rclone_settings(
        CONNECTORS={"postgres": {"CONNECTOR": PG_DUMP, "DUMP_SUFFIX": f"--format={fmt}", "DUMP_PREFIX": prefix}}
    )
    with pytest.raises(CommandError, match="exited 0 but"):
        call_command("dbbackup", "-d", "postgres", verbosity=0)
    assert len(list_backups("postgres")) == 1
