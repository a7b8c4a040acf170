"""Restore drills (``drillrestore`` / ``django_rclone.api.drill``) on the real SQLite and PostgreSQL.

Each case backs up real rows, then drills: the backup is restored into a scratch database (a
temporary SQLite file, a new PostgreSQL database), its tables counted and compared with the counts
the backup recorded in its manifest, and the scratch database dropped on every path. The live
database must be exactly as it was (rows, counts, and for SQLite the file's bytes and mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from django_rclone import api
from django_rclone.db.base import BaseConnector
from django_rclone.exceptions import DjangoRcloneError, DrillFailed
from django_rclone.signals import db_drill_failed, post_db_drill
from django_rclone_sqlite.connectors import SqliteConnector
from tests.core.conftest import fake_rclone, start, wait_for
from tests.core.test_pings import SECRET, Server, server
from tests.plugins.postgres.data import populate, snapshot, sql
from tests.testapp.models import Author, Note

__all__ = ["fake_rclone", "server"]  # fixtures of the core tests

PG = [pytest.mark.postgres, pytest.mark.integration]
ENGINES = [
    pytest.param(("sqlite_db", None), id="sqlite"),
    pytest.param(("pg_db", "django_rclone_postgres.connectors.PgDumpConnector"), id="postgres-custom", marks=PG),
    pytest.param(("pg_db", "django_rclone_postgres.connectors.PgDumpSqlConnector"), id="postgres-sql", marks=PG),
    pytest.param(("mysql_db", None), id="mariadb", marks=[pytest.mark.mysql, pytest.mark.integration]),
]


def scratch_databases() -> list[str]:
    """Every drill scratch database left anywhere: SQLite temp folders, PostgreSQL databases."""
    found = [p.name for p in Path(tempfile.gettempdir()).glob("django-rclone-drill-*")]
    from django.conf import settings

    if "postgres" in settings.DATABASES:
        from django.db import connections

        try:
            rows = sql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE '%\\_drill\\_%'")
        except Exception:  # the server is not running in this test (SQLite case)
            rows = []
        finally:
            connections["postgres"].close()
        found += [r[0] for r in rows]
    if "mysql" in settings.DATABASES:
        try:
            rows = sql("mysql", "SHOW DATABASES LIKE 'rclone\\_test\\_\\_rclone\\_%'")
        except Exception:  # the server is not running in this test
            rows = []
        found += [r[0] for r in rows]
    return found


class Case:
    """One engine's live database with rows, backed up once."""

    def __init__(self, request: pytest.FixtureRequest, remote: Path, rclone_settings: Callable[..., None]) -> None:
        fixture, connector = request.param
        self.engine = fixture
        self.alias: str = request.getfixturevalue(fixture)
        request.getfixturevalue("private_tempdir")
        request.getfixturevalue("no_stray_processes")  # after the server fixture (MariaDB is our child)
        self.remote = remote
        self.settings: dict[str, Any] = {"REMOTE": str(remote)}
        options: dict[str, Any] = {}
        if connector:
            options["CONNECTOR"] = connector
        if fixture == "pg_db":
            from tests.servers.postgres import ADMIN_PASSWORD, ADMIN_USER

            options.update(ADMIN_USER=ADMIN_USER, ADMIN_PASSWORD=ADMIN_PASSWORD)
        if options:
            self.settings["CONNECTORS"] = {self.alias: options}
        self.rclone_settings = rclone_settings
        self.use()
        populate(self.alias, notes=40, note_size=2_000)
        self.before = scratch_databases()

    def use(self, **keys: Any) -> None:
        self.rclone_settings(**{k: v for k, v in self.settings.items() if k != "REMOTE"}, **keys)

    def backup(self) -> None:
        call_command("dbbackup", "-d", self.alias, verbosity=0)

    @property
    def backup_file(self) -> Path:
        (found,) = [p for p in (self.remote / "db").glob("*") if p.is_file() and not p.name.endswith(".manifest.json")]
        return found

    @property
    def manifest_file(self) -> Path:
        return Path(str(self.backup_file) + ".manifest.json")

    def live_state(self) -> Any:
        """Rows, per-table counts and (SQLite) the file's bytes and mtime of the live database."""
        state: list[Any] = [snapshot(self.alias), Author.objects.using(self.alias).count()]
        if self.engine == "sqlite_db":
            from django.db import connections

            connections[self.alias].close()
            path = Path(connections.databases[self.alias]["NAME"])
            state += [hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns]
        else:
            state.append(sql(self.alias, "SELECT count(*), sum(length(text)) FROM testapp_note"))
        return state

    def drill(self, *extra: str) -> str:
        from io import StringIO

        out = StringIO()
        call_command("drillrestore", "-d", self.alias, *extra, stdout=out, stderr=out)
        return out.getvalue()

    def assert_no_scratch(self) -> None:
        assert scratch_databases() == self.before

    def record(self) -> dict[str, Any]:
        return json.loads((self.remote / "db" / ".drills" / f"{self.alias}.json").read_text())


@pytest.fixture(params=ENGINES)
def case(request: pytest.FixtureRequest, remote: Path, rclone_settings: Callable[..., None]) -> Case:
    return Case(request, remote, rclone_settings)


@pytest.fixture
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite drills make their scratch folder in ``tempfile.gettempdir()``: each test gets its own,
    so ``scratch_databases()`` never sees the scratch of a drill in another pytest-xdist worker.
    Requested after the database fixtures, whose servers keep the machine's temporary folder."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))


def test_backup_records_table_counts(case: Case) -> None:
    case.backup()
    counts = json.loads(case.manifest_file.read_text())["metadata"]["table_counts"]
    found = {k.rpartition(".")[2]: v for k, v in counts.items()}  # PostgreSQL names carry the schema
    assert found.get("testapp_author") == 2, counts
    assert found.get("testapp_note") == 40, counts


def test_drill_passes_on_a_good_backup_and_leaves_the_live_database_alone(case: Case) -> None:
    case.backup()
    live = case.live_state()
    received: list[Any] = []
    post_db_drill.connect(lambda **kw: received.append(kw["result"]), weak=False, dispatch_uid="t-drill")
    try:
        out = case.drill()
    finally:
        post_db_drill.disconnect(dispatch_uid="t-drill")
    assert f"OK      {case.alias}: {case.backup_file.name}" in out
    [result] = received
    assert result.passed
    assert result.recorded == result.found
    assert result.scratch != ""
    assert case.live_state() == live
    case.assert_no_scratch()
    record = case.record()
    assert record["passed"] is True
    assert record["backup"] == case.backup_file.name
    # the record is never taken for a backup
    assert [e.name for e in api.list_backups(case.alias)] == [case.backup_file.name]


def test_drill_fails_when_the_manifest_counts_disagree(case: Case) -> None:
    case.backup()
    manifest = json.loads(case.manifest_file.read_text())
    counts = manifest["metadata"]["table_counts"]
    note = next(k for k in counts if k.endswith("testapp_note"))
    counts[note] = 41
    case.manifest_file.write_text(json.dumps(manifest))
    live = case.live_state()
    failures: list[Any] = []
    db_drill_failed.connect(lambda **kw: failures.append(kw), weak=False, dispatch_uid="t-drill-f")
    try:
        with pytest.raises(CommandError, match="1 restore drill"):
            case.drill()
        with pytest.raises(DrillFailed) as caught:
            api.drill(case.alias)
    finally:
        db_drill_failed.disconnect(dispatch_uid="t-drill-f")
    assert f"table {note} has 40 rows after the restore, the backup recorded 41" in str(caught.value)
    assert [f["stage"] for f in failures] == ["drill", "drill"]
    assert case.live_state() == live
    case.assert_no_scratch()
    record = case.record()
    assert record["passed"] is False
    assert record["problems"]


@pytest.mark.parametrize("case", [ENGINES[0]], indirect=True)  # the SQLite text dump is edited here
def test_drill_fails_when_rows_were_removed_from_the_object(case: Case) -> None:
    """Rows cut out of the backup with size and SHA-256 recomputed: only the counts can tell (the
    other engines are covered by the forged counts)."""
    case.use(COMPRESSION="none")  # the object is the plain SQL text
    case.backup()
    data = case.backup_file.read_bytes()
    lines = data.split(b"\n")
    kept = [line for line in lines if not line.startswith(b"INSERT INTO testapp_note VALUES(1,")]
    assert len(kept) == len(lines) - 1
    edited = b"\n".join(kept)
    case.backup_file.write_bytes(edited)
    manifest = json.loads(case.manifest_file.read_text())
    manifest.update(size=len(edited), sha256=hashlib.sha256(edited).hexdigest())
    case.manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(DrillFailed, match="table testapp_note has 39 rows after the restore, the backup recorded 40"):
        api.drill(case.alias)
    case.assert_no_scratch()


def test_failed_restore_into_the_scratch_database_still_drops_it(case: Case) -> None:
    case.backup()
    data = bytearray(case.backup_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    case.backup_file.write_bytes(bytes(data))
    live = case.live_state()
    from io import StringIO

    err = StringIO()
    with pytest.raises(CommandError, match="1 restore drill"):
        call_command("drillrestore", "-d", case.alias, stderr=err)
    assert f"FAILED  {case.alias}: the drill could not run: " in err.getvalue()
    # the zstd stage (the default COMPRESSION) or the checksum catches the changed byte first
    assert "does not match its manifest" in err.getvalue() or "not valid zstd data" in err.getvalue()
    assert case.live_state() == live
    case.assert_no_scratch()
    assert case.record()["passed"] is False


def test_interrupted_drill_leaves_no_scratch_database(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_rclone: Callable[[str], str]
) -> None:
    Note.objects.using(case.alias).bulk_create(Note(text=os.urandom(5_000).hex()) for _ in range(600))
    case.backup()
    live = case.live_state()
    wrapper = fake_rclone(f"cat-hang:{case.backup_file.stat().st_size // 2}")
    mark = tmp_path / "hanging"
    monkeypatch.setenv("STANDIN_RCLONE_HANG_MARK", str(mark))
    proc = start(["drillrestore", "-d", case.alias], {**case.settings, "RCLONE_BINARY": wrapper})
    wait_for(mark.exists, timeout=120)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "interrupted by SIGINT" in err.strip().splitlines()[-1]
    assert case.live_state() == live
    case.assert_no_scratch()


@pytest.mark.usefixtures("no_stray_processes")
def test_unsupported_connector_is_reported(sqlite_db: str, rclone_settings: Callable[..., None]) -> None:
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": "django_rclone_sqlite.SqliteBackupConnector"}})
    call_command("dbbackup", verbosity=0)
    with pytest.raises(CommandError, match="1 restore drill"):
        call_command("drillrestore", "-d", "default", verbosity=0)
    from io import StringIO

    out = StringIO()
    with pytest.raises(CommandError, match="No restore drill ran"):
        # every alias: the others are skipped (no backups, or not supported), none is a failure
        call_command("drillrestore", stdout=out, verbosity=1)
    assert "SKIPPED default: restore drills are not supported by SqliteBackupConnector" in out.getvalue()


# -- pings, status page, skipped aliases (SQLite) ------------------------------------------------


@pytest.mark.usefixtures("no_stray_processes")
def test_drill_sends_pings_and_shows_on_the_status_page(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None], server: Server
) -> None:
    from django_rclone import status

    populate(sqlite_db)
    call_command("dbbackup", verbosity=0)
    rclone_settings(PING_URLS={"drill": server.url})
    result = api.drill("default")
    assert server.paths() == [f"/{SECRET}/start", f"/{SECRET}"]
    assert result.name in server.requests[1][2]
    [row] = [a for a in status.collect().aliases if a.database == "default"]
    assert row.last_drill.startswith("passed ")
    assert row.last_drill.endswith(f"({result.name})")

    manifest_file = remote / "db" / (result.name + ".manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest["metadata"]["table_counts"]["testapp_author"] = 7
    manifest_file.write_text(json.dumps(manifest))
    server.requests.clear()
    with pytest.raises(DrillFailed):
        api.drill("default")
    assert server.paths() == [f"/{SECRET}/start", f"/{SECRET}/fail"]
    body = server.requests[1][2]
    assert "drill of database 'default' failed at stage drill" in body
    assert "table testapp_author has 2 rows after the restore, the backup recorded 7" in body
    [row] = [a for a in status.collect().aliases if a.database == "default"]
    assert row.last_drill.startswith("FAILED ")
    assert "table testapp_author has 2 rows" in row.last_drill


@pytest.mark.usefixtures("no_stray_processes")
def test_aliases_without_backups_are_skipped_without_failure_pings(
    sqlite_db: str, rclone_settings: Callable[..., None], server: Server
) -> None:
    populate(sqlite_db)
    call_command("dbbackup", verbosity=0)
    rclone_settings(PING_URLS={"drill": server.url})
    from io import StringIO

    out = StringIO()
    call_command("drillrestore", stdout=out)  # every alias: only 'default' has backups
    assert "OK      default:" in out.getvalue()
    assert "SKIPPED other: no backups of database 'other'" in out.getvalue()
    assert server.paths() == [f"/{SECRET}/start", f"/{SECRET}"]
    with pytest.raises(CommandError, match="1 restore drill"):
        call_command("drillrestore", "-d", "other", stdout=out, stderr=out)


class LiveTargetConnector(SqliteConnector):
    """A broken third-party connector whose drill target is the live database itself."""

    def drill_target(self) -> BaseConnector:
        return self.scratch_copy()


@pytest.mark.usefixtures("no_stray_processes")
def test_a_drill_target_that_is_the_live_database_is_refused(
    sqlite_db: str, rclone_settings: Callable[..., None]
) -> None:
    populate(sqlite_db)
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": f"{__name__}.LiveTargetConnector"}})
    call_command("dbbackup", verbosity=0)
    Author.objects.create(name="after the backup")
    before = snapshot(sqlite_db)
    with pytest.raises(DjangoRcloneError, match=r"returned the live database .*refusing to drill"):
        api.drill("default")
    assert snapshot(sqlite_db) == before


@pytest.mark.usefixtures("no_stray_processes")
def test_malformed_recorded_counts_are_a_clear_error(sqlite_db: str, remote: Path, private_tempdir: None) -> None:
    leftovers = scratch_databases()
    populate(sqlite_db)
    result = api.backup("default")
    manifest_file = remote / "db" / (result.name + ".manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest["metadata"]["table_counts"] = {"testapp_author": "2; DROP TABLE x"}
    manifest_file.write_text(json.dumps(manifest))
    err = __import__("io").StringIO()
    with pytest.raises(CommandError, match="1 restore drill"):
        call_command("drillrestore", "-d", "default", "-i", result.name, stderr=err)
    assert "the table counts in the manifest of" in err.getvalue()
    assert "are malformed" in err.getvalue()
    assert scratch_databases() == leftovers


@pytest.mark.usefixtures("no_stray_processes")
def test_with_a_signing_key_forged_counts_are_refused_before_any_restore(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None], private_tempdir: None
) -> None:
    """The drill checks the manifest's signature as dbrestore does: counts edited without the key
    are a forgery, not a difference to report."""
    leftovers = scratch_databases()
    rclone_settings(SIGNING_KEY="k" * 32)
    populate(sqlite_db)
    result = api.backup("default")
    assert api.drill("default").passed
    manifest_file = remote / "db" / (result.name + ".manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest["metadata"]["table_counts"]["testapp_author"] = 3
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(DjangoRcloneError, match="refusing to restore"):
        api.drill("default")
    assert scratch_databases() == leftovers
