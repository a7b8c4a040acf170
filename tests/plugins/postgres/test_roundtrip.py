"""Round trips through Django models with the real PostgreSQL 15 server, pg_dump/pg_restore/psql and rclone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_rclone.codecs import zstd
from tests.plugins.postgres.data import change, populate, snapshot, sql
from tests.testapp.models import Author, Note

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

PG_DUMP = "django_rclone_postgres.connectors.PgDumpConnector"
PG_SQL = "django_rclone_postgres.connectors.PgDumpSqlConnector"
CONNECTORS = pytest.mark.parametrize("connector", [PG_DUMP, PG_SQL], ids=["custom", "sql"])

Settings = Callable[..., None]


def use(rclone_settings: Settings, connector: str, **options: Any) -> None:
    rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": connector, **options}})


def backup() -> None:
    call_command("dbbackup", "-d", "postgres", verbosity=0)


def restore(*extra: str) -> None:
    call_command("dbrestore", "-d", "postgres", "--noinput", *extra, verbosity=0)


def objects(remote: Path) -> list[Path]:
    return sorted(p for p in remote.rglob("*") if p.is_file() and p.name.endswith((".dump", ".sql", ".zst")))


def test_no_settings_uses_custom_format(pg_db: str, remote: Path) -> None:
    populate(pg_db)
    before = snapshot(pg_db)
    backup()
    [obj] = objects(remote)
    assert obj.name.endswith(".dump.zst")  # the core's zstd stage, pg_dump with --compress=0
    assert zstd.decompress(obj.read_bytes())[:5] == b"PGDMP"
    change(pg_db)
    restore()
    assert snapshot(pg_db) == before


@CONNECTORS
@pytest.mark.parametrize("count_rows", [True, False])
def test_a_server_that_refuses_the_connection_fails_the_backup_with_its_reason(
    pg_db: str, rclone_settings: Settings, connector: str, remote: Path, count_rows: bool
) -> None:
    """Nothing listens on the port: psql (the row-count session) or pg_dump exits at once, and the
    error says why (a client that exits before its script is written used to surface as a bare
    BrokenPipeError)."""
    use(rclone_settings, connector, PORT=1, COUNT_ROWS=count_rows)
    with pytest.raises(CommandError, match=r"(?i)connection refused|could not connect"):
        backup()
    assert [p for p in remote.rglob("*") if p.is_file()] == []


@CONNECTORS
def test_restore_over_changed_data_gives_exact_rows(pg_db: str, rclone_settings: Settings, connector: str) -> None:
    use(rclone_settings, connector)
    populate(pg_db)
    before = snapshot(pg_db)
    backup()
    change(pg_db)
    assert snapshot(pg_db) != before
    restore()
    assert snapshot(pg_db) == before
    # Sequences came back too: the next row does not collide with restored keys.
    assert Author.objects.using(pg_db).create(name="Dora").pk > max(row[0] for row in before[0])


@CONNECTORS
def test_restoring_twice_leaves_no_duplicates(pg_db: str, rclone_settings: Settings, connector: str) -> None:
    use(rclone_settings, connector)
    populate(pg_db)
    before = snapshot(pg_db)
    backup()
    restore()
    restore()
    assert snapshot(pg_db) == before


@CONNECTORS
def test_drop_false_restores_into_an_empty_schema(pg_db: str, rclone_settings: Settings, connector: str) -> None:
    """DROP=False must work (django-dbbackup 5.4 passed --if-exists without --clean and failed)."""
    use(rclone_settings, connector, DROP=False)
    populate(pg_db)
    before = snapshot(pg_db)
    backup()
    sql(pg_db, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    restore()
    assert snapshot(pg_db) == before


@CONNECTORS
def test_drop_false_does_not_drop_existing_objects(pg_db: str, rclone_settings: Settings, connector: str) -> None:
    use(rclone_settings, connector, DROP=False)
    populate(pg_db)
    backup()
    change(pg_db)
    changed = snapshot(pg_db)
    with pytest.raises(CommandError, match="already exists"):
        restore()
    assert snapshot(pg_db) == changed


@pytest.fixture
def extra_schema(pg_db: str) -> Any:
    sql(pg_db, "CREATE SCHEMA extra; CREATE TABLE extra.kept (v text); INSERT INTO extra.kept VALUES ('one')")
    yield
    sql(pg_db, "DROP SCHEMA IF EXISTS extra CASCADE")


def schema_exists(alias: str, name: str) -> bool:
    return any(row[0] == name for row in sql(alias, "SELECT nspname FROM pg_namespace"))


@CONNECTORS
def test_schemas_limits_the_dump(pg_db: str, rclone_settings: Settings, connector: str, extra_schema: None) -> None:
    use(rclone_settings, connector, SCHEMAS=["extra"])
    populate(pg_db)
    backup()
    sql(pg_db, "DROP SCHEMA extra CASCADE")
    change(pg_db)
    changed = snapshot(pg_db)
    restore("--no-undo-backup")  # the live database has no schema 'extra' for an undo backup to dump
    assert sql(pg_db, "SELECT v FROM extra.kept") == [("one",)]
    assert snapshot(pg_db) == changed  # public was not in the backup, so it was not touched


@CONNECTORS
def test_without_schemas_every_schema_is_dumped(
    pg_db: str, rclone_settings: Settings, connector: str, extra_schema: None
) -> None:
    use(rclone_settings, connector)
    populate(pg_db)
    before = snapshot(pg_db)
    backup()
    sql(pg_db, "DROP SCHEMA extra CASCADE")
    change(pg_db)
    restore()
    assert schema_exists(pg_db, "extra")
    assert sql(pg_db, "SELECT v FROM extra.kept") == [("one",)]
    assert snapshot(pg_db) == before


@CONNECTORS
def test_exclude_leaves_tables_out(pg_db: str, rclone_settings: Settings, connector: str) -> None:
    use(rclone_settings, connector, EXCLUDE=["testapp_note"])
    populate(pg_db)
    before = snapshot(pg_db)
    backup()
    change(pg_db)
    Note.objects.using(pg_db).create(text="written after the backup")
    notes_after = snapshot(pg_db)[2]
    restore()
    authors, books, notes = snapshot(pg_db)
    assert [authors, books] == before[:2]
    assert notes == notes_after  # the excluded table kept its current rows


def block_note_drop(alias: str) -> None:
    """A view the backup does not know about: dropping testapp_note during the restore fails."""
    sql(alias, "CREATE VIEW note_lengths AS SELECT id, length(text) AS n FROM testapp_note")


@CONNECTORS
def test_failed_restore_in_single_transaction_changes_nothing(
    pg_db: str, rclone_settings: Settings, connector: str
) -> None:
    use(rclone_settings, connector)
    populate(pg_db)
    backup()
    change(pg_db)
    block_note_drop(pg_db)
    changed = snapshot(pg_db)
    with pytest.raises(CommandError, match="depend"):
        restore()
    assert snapshot(pg_db) == changed
    sql(pg_db, "DROP VIEW note_lengths")


def test_without_single_transaction_the_same_failure_is_partial(pg_db: str, rclone_settings: Settings) -> None:
    """The control for the test above: the failure really happens mid-restore."""
    use(rclone_settings, PG_DUMP, SINGLE_TRANSACTION=False)
    populate(pg_db)
    backup()
    change(pg_db)
    block_note_drop(pg_db)
    changed = snapshot(pg_db)
    with pytest.raises(CommandError, match="depend"):
        restore()
    assert "Carol" not in [row[1] for row in snapshot(pg_db)[0]]  # authors were already restored
    assert snapshot(pg_db) != changed
    sql(pg_db, "DROP VIEW note_lengths")


def test_truncated_archive_restored_unverified_rolls_back(pg_db: str, rclone_settings: Settings, remote: Path) -> None:
    """pg_restore notices a truncated custom archive on its own, even with --skip-verify."""
    rclone_settings(COMPRESSION="none")  # no zstd frame around the archive to notice it first
    populate(pg_db, notes=40, note_size=20_000)
    backup()
    [obj] = objects(remote)
    data = obj.read_bytes()
    obj.write_bytes(data[: int(len(data) * 0.6)])
    change(pg_db)
    changed = snapshot(pg_db)
    with pytest.raises(CommandError, match="pg_restore"):
        restore("--skip-verify")
    assert snapshot(pg_db) == changed


@CONNECTORS
def test_corrupted_backup_is_stopped_before_commit(
    pg_db: str, rclone_settings: Settings, remote: Path, connector: str
) -> None:
    """One changed byte in the middle (still valid SQL for the plain format): the checksum fails at
    the end of the stream and the core stops the restore tool before it can commit."""
    use(rclone_settings, connector)
    populate(pg_db, notes=40, note_size=20_000)
    backup()
    [obj] = objects(remote)
    data = bytearray(obj.read_bytes())
    pos = next(i for i in range(len(data) // 2, len(data)) if data[i] in b"0123456789abcdef")
    data[pos] = ord("1") if data[pos] == ord("0") else ord("0")
    obj.write_bytes(bytes(data))
    change(pg_db)
    changed = snapshot(pg_db)
    with pytest.raises(CommandError):
        restore()
    assert snapshot(pg_db) == changed


def test_compression_level_changes_size_and_round_trips(pg_db: str, rclone_settings: Settings, remote: Path) -> None:
    Note.objects.using(pg_db).bulk_create(Note(text="compressible text " * 500) for _ in range(200))
    before = snapshot(pg_db)
    sizes = {}
    for level in (0, 9):
        rclone_settings(CONNECTORS={"postgres": {"CONNECTOR": PG_DUMP, "COMPRESSION": level}}, COMPRESSION="none")
        backup()
        newest = max(objects(remote), key=lambda p: p.stat().st_mtime_ns)
        sizes[level] = newest.stat().st_size
        Note.objects.using(pg_db).all().delete()
        restore("-i", newest.name)
        assert snapshot(pg_db) == before
    assert sizes[0] > 10 * sizes[9]


def test_database_options_reach_the_tools(pg_db: str, rclone_settings: Settings) -> None:
    """sslmode from OPTIONS reaches pg_dump: the test server has no TLS, so 'require' must fail."""
    from django.conf import settings

    options = dict(settings.DATABASES["postgres"].get("OPTIONS") or {})
    use(rclone_settings, PG_DUMP, OPTIONS={**options, "sslmode": "require"})
    with pytest.raises(CommandError, match="SSL"):
        backup()
    use(rclone_settings, PG_DUMP, OPTIONS={**options, "sslmode": "disable", "application_name": "rclone-tests"})
    backup()


def test_tool_versions_are_recorded(pg_db: str) -> None:
    from django_rclone.resolution import resolve

    versions = resolve("postgres").connector.tool_versions()
    assert set(versions) == {"pg_dump", "pg_restore"}
    assert all("PostgreSQL" in v for v in versions.values())


def test_estimated_size_is_the_database_size(pg_db: str, rclone_settings: Settings) -> None:
    """The progress line's estimate: psql's answer equals what the server reports to Django."""
    from django.db import connections

    from django_rclone.resolution import resolve

    populate(pg_db)
    with connections[pg_db].cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        [(expected,)] = cursor.fetchall()
    assert resolve(pg_db).connector.estimated_size() == expected
    use(rclone_settings, PG_DUMP, PORT="1")  # nothing listens there: no estimate, no error
    assert resolve(pg_db).connector.estimated_size() is None
