"""The example plugin (docs/examples/django-rclone-example), installed like any third-party plugin.

These tests need it installed (``pip install -e docs/examples/django-rclone-example``; the nox
``tests`` session does it) and prove it is found through its ``django_rclone`` entry point, not by
import, and that a backup and a restore through its connector work with real sqlite3 and rclone.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import closing
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_rclone.exceptions import ConnectorNotFound
from django_rclone.plugins import DISABLE_ENV, get_host, reset_host
from django_rclone.resolution import resolve

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = pytest.mark.usefixtures("no_stray_processes")

if importlib.util.find_spec("django_rclone_example") is None:
    pytest.fail(
        "the example plugin is not installed: pip install -e docs/examples/django-rclone-example "
        "(the nox tests session does it)",
        pytrace=False,
    )

ENGINE = "django_rclone_example.backend"
ALIAS = "acme"


@pytest.fixture(autouse=True)
def fresh_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test loads plugins from the installed entry points itself, with none disabled."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    reset_host()
    yield
    reset_host()


@pytest.fixture
def acme_db(tmp_path: Path) -> Iterator[Path]:
    """An ``acme`` alias whose ENGINE only the example plugin serves, backed by a real SQLite file.

    Rows are written and read with the sqlite3 module, which is all the connector needs; Django can
    open the alias too (``test_the_example_engine_is_a_backend_django_loads``).
    """
    path = tmp_path / "acme.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB)")
        db.executemany(
            "INSERT INTO item (name, data) VALUES (?, ?)",
            [("ünïcode ☃; 'quoted'\nline", b"\x00\xff"), ("plain", None), ("x" * 100_000, b"y" * 50_000)],
        )
    databases = {**settings.DATABASES, ALIAS: {"ENGINE": ENGINE, "NAME": str(path)}}
    with warnings.catch_warnings():
        # Django warns that overriding DATABASES is unusual; only this test's new alias is affected.
        warnings.filterwarnings("ignore", "Overriding setting DATABASES", UserWarning)
        override = override_settings(DATABASES=databases)
        override.enable()
    try:
        yield path
    finally:
        override.disable()


def rows(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT id, name, data FROM item ORDER BY id").fetchall()


def change(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("DELETE FROM item WHERE name = 'plain'")
        db.execute("INSERT INTO item (name) VALUES ('added after the backup')")


def backups(remote: Path) -> list[Path]:
    return sorted(p for p in remote.rglob(f"{ALIAS}-*") if not p.name.endswith(".json"))


def test_registered_through_its_entry_point() -> None:
    (ep,) = [ep for ep in entry_points(group="django_rclone") if ep.name == "example"]
    assert ep.value == "django_rclone_example.plugin"
    assert ep.dist is not None
    assert ep.dist.metadata["Name"] == "django-rclone-example"

    info = {p.name: p for p in get_host().plugins}["example"]
    assert (info.module, info.distribution, info.version) == (
        "django_rclone_example.plugin",
        "django-rclone-example",
        "0.1.0",
    )
    claim = get_host().engines()[ENGINE]
    assert (claim.plugin, claim.connector) == ("example", "django_rclone_example.connectors.AcmeSqliteConnector")


def test_alias_resolves_to_the_example_connector(acme_db: Path) -> None:
    from django_rclone_example.connectors import AcmeSqliteConnector

    found = resolve(ALIAS)
    assert type(found.connector) is AcmeSqliteConnector
    assert (found.rule, found.detail) == ("plugin", "plugin 'example'")
    assert found.connector.dump_argv() == ["sqlite3", "-bail", "-batch", "-readonly", str(acme_db), ".dump"]


def test_disabling_the_entry_point_removes_the_engine(acme_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "example")
    reset_host()
    assert "example" not in {p.name for p in get_host().plugins}
    with pytest.raises(ConnectorNotFound):
        resolve(ALIAS)


def test_backup_change_restore_gives_exact_rows(acme_db: Path, remote: Path) -> None:
    before = rows(acme_db)
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    (backup,) = backups(remote)
    assert backup.name.endswith(".acme.sql")
    assert b"CREATE TABLE item" in backup.read_bytes()

    change(acme_db)
    assert rows(acme_db) != before
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert rows(acme_db) == before
    assert sorted(p.name for p in acme_db.parent.iterdir() if "restoring" in p.name) == []


def test_backup_that_fails_its_checksum_leaves_the_database_untouched(acme_db: Path, remote: Path) -> None:
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    (backup,) = backups(remote)
    data = backup.read_bytes()
    # Same size, still valid SQL (one letter inside a string literal): only the SHA-256 differs, so
    # sqlite3 gets almost the whole stream before the core notices, kills it and reports.
    at = data.index(b"x" * 1000) + 500
    backup.write_bytes(data[:at] + b"z" + data[at + 1 :])

    change(acme_db)
    changed = rows(acme_db)
    with pytest.raises(CommandError, match="manifest"):
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert rows(acme_db) == changed
    assert [p.name for p in acme_db.parent.iterdir() if "restoring" in p.name] == []


def test_restore_refuses_to_swap_under_an_open_wal_connection(acme_db: Path, remote: Path) -> None:
    before = rows(acme_db)
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    change(acme_db)
    changed = rows(acme_db)
    with closing(sqlite3.connect(acme_db)) as user:  # another process's connection, in WAL mode
        user.execute("PRAGMA journal_mode=WAL")
        user.execute("SELECT count(*) FROM item").fetchall()
        assert Path(f"{acme_db}-wal").exists()
        with pytest.raises(CommandError, match="is in use"):
            call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
        assert rows(acme_db) == changed
    assert [p.name for p in acme_db.parent.iterdir() if "restoring" in p.name] == []
    # Once it is closed. No undo backup: the example dumps with `sqlite3 -readonly`, which leaves the
    # -wal file of a WAL database behind, and the example's guard would then refuse the swap.
    call_command("dbrestore", "--database", ALIAS, "--noinput", "--no-undo-backup", verbosity=0)
    assert rows(acme_db) == before


def test_the_example_engine_is_a_backend_django_loads(acme_db: Path) -> None:
    """The ENGINE the example plugin claims is a real Django backend, as docs/writing-a-plugin.md requires."""
    from django.db.utils import ConnectionHandler

    handler = ConnectionHandler({"default": {"ENGINE": ENGINE, "NAME": str(acme_db)}})
    connection = handler["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM item")
            assert cursor.fetchone() == (3,)
    finally:
        connection.close()
