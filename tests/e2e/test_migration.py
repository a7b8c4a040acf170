"""Projects set up the way each seed document describes them, migrated by following
docs/migration-*.md to a verified backup and restore, with nothing on the remote deleted.

- django-dbbackup (database settings page): ``DBBACKUP_CONNECTORS`` with a replica override, class
  paths in ``CONNECTOR``/``DBBACKUP_CONNECTOR_MAPPING``, a FileSystemStorage, ``EXCLUDE``.
- django-snapshots: ``SNAPSHOTS["DATABASE_CONNECTORS"]`` holding a connector instance.
- django-rclone 0.1.0: its settings and connector paths, and a backup it made (no manifest).

Real sqlite3, PostgreSQL and rclone; the steps are the documented commands (``check``,
``translatesettings``, ``dbbackup``, ``verifybackups``, ``dbrestore``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test import override_settings

from django_rclone import codecs
from django_rclone.conf import get_settings
from django_rclone.rclone import find_binary
from tests.core.custom_connectors import SnapshotsStyleSqlite
from tests.plugins.postgres.data import change, populate, snapshot
from tests.plugins.postgres.test_overrides import ROLE, ROLE_PASSWORD, reader_role  # noqa: F401 - fixture
from tests.servers.postgres import PostgresServer
from tests.testapp.models import Author, Note

pytestmark = pytest.mark.usefixtures("no_stray_processes")


@pytest.fixture
def phase() -> Iterator[Callable[..., None]]:
    """``phase(**settings)``: replace the previous phase's settings with these (old ones are gone)."""
    active: list[Any] = []

    def enter(**values: Any) -> None:
        while active:
            active.pop().disable()
        override = override_settings(**values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Overriding setting DATABASES can lead to unexpected behavior"
            override.enable()
        active.append(override)

    yield enter
    while active:
        active.pop().disable()


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its SHA-256."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def warning_ids() -> dict[str, list[checks.CheckMessage]]:
    found: dict[str, list[checks.CheckMessage]] = {}
    for message in checks.run_checks(tags=["django_rclone"]):
        found.setdefault(str(message.id), []).append(message)
    return found


def translate(*args: str) -> dict[str, Any]:
    """Step 2 of the docs: ``manage.py translatesettings``, pasted into settings (exec'd)."""
    out = StringIO()
    call_command("translatesettings", *args, stdout=out, stderr=StringIO())
    namespace: dict[str, Any] = {}
    exec(compile(out.getvalue(), "translatesettings", "exec"), namespace)  # noqa: S102
    return dict(namespace["DJANGO_RCLONE"])


def assert_migrated_checks_are_clean() -> None:
    """Step 4: the django_rclone checks have nothing left to say (no old settings, no errors)."""
    left = {key: [m.msg for m in msgs] for key, msgs in warning_ids().items() if key.startswith("django_rclone.")}
    left.pop("django_rclone.W004", None)  # aliases of the test project this migration does not back up
    left.pop("django_rclone.W005", None)
    assert left == {}


# -- django-dbbackup ---------------------------------------------------------------------------


def test_dbbackup_project_on_sqlite_follows_the_docs_to_a_verified_restore(
    sqlite_db: str, tmp_path: Path, phase: Callable[..., None]
) -> None:
    storage = tmp_path / "dbbackup-storage"
    storage.mkdir()
    # What the project already has in its dbbackup storage folder.
    (storage / "default-oldhost-2024-05-01-120000.dump").write_bytes(b"made by django-dbbackup")
    (storage / "media-oldhost-2024-05-01-120000.tar").write_bytes(b"media archive")
    before = tree(storage)
    phase(
        DJANGO_RCLONE=None,
        DBBACKUP_STORAGE="django.core.files.storage.FileSystemStorage",
        DBBACKUP_STORAGE_OPTIONS={"location": str(storage)},
        DBBACKUP_CONNECTORS={
            "default": {"CONNECTOR": "dbbackup.db.sqlite.SqliteConnector", "EXCLUDE": ["testapp_note"]}
        },
        DBBACKUP_CLEANUP_KEEP=3,
    )
    # Step 1: each old setting is reported with its equivalent.
    found = warning_ids()
    assert "dbbackup.db.sqlite.SqliteConnector" not in found["django_rclone.W101"][0].hint
    assert "django_rclone_sqlite.connectors.SqliteConnector" in found["django_rclone.W101"][0].hint
    assert str(storage) in found["django_rclone.W103"][0].hint
    assert "DB_CLEANUP_KEEP" in found["django_rclone.W104"][0].hint
    # Step 2: the translation.
    translated = translate()
    assert translated == {
        "REMOTE": str(storage),
        "DB_CLEANUP_KEEP": 3,
        "CONNECTORS": {
            "default": {"CONNECTOR": "django_rclone_sqlite.connectors.SqliteConnector", "EXCLUDE": ["testapp_note"]}
        },
    }
    # Step 4: the old settings replaced by the translation.
    phase(DJANGO_RCLONE=translated)
    assert_migrated_checks_are_clean()
    # Step 5: back up, verify, restore.
    Author.objects.create(name="Ada")
    Note.objects.create(text="excluded, never uploaded")
    call_command("dbbackup", "--clean", verbosity=0)
    call_command("verifybackups", verbosity=0)
    Author.objects.all().delete()
    Author.objects.create(name="Changed")
    Note.objects.create(text="live note")
    connections["default"].close()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert list(Author.objects.values_list("name", flat=True)) == ["Ada"]
    assert sorted(Note.objects.values_list("text", flat=True)) == ["excluded, never uploaded", "live note"]
    after = tree(storage)
    assert {name: digest for name, digest in after.items() if name in before} == before  # nothing deleted
    new = sorted(set(after) - set(before))
    assert len(new) == 4  # the backup and the restore's undo backup, each with its manifest
    for name in new:
        assert name.startswith("db/default-")
        if not name.endswith(".manifest.json"):
            assert b"never uploaded" not in _stored_dump(storage / name)


@pytest.mark.postgres
@pytest.mark.integration
@pytest.mark.usefixtures("reader_role")
def test_dbbackup_replica_override_reaches_pg_dump_after_migration(
    pg_db: str, postgres_server: PostgresServer, tmp_path: Path, phase: Callable[..., None]
) -> None:
    """The seed's "dump from a replica" example: DBBACKUP_CONNECTORS with USER/PASSWORD/HOST, and
    dbbackup's class path in DBBACKUP_CONNECTOR_MAPPING. After the documented migration, pg_dump
    connects as the override role (seen in the server's connection log)."""
    storage = tmp_path / "storage"
    storage.mkdir()
    phase(
        DJANGO_RCLONE=None,
        STORAGES={
            "dbbackup": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(storage)},
            }
        },
        DBBACKUP_CONNECTORS={"postgres": {"USER": ROLE, "PASSWORD": ROLE_PASSWORD, "HOST": "127.0.0.1"}},
        DBBACKUP_CONNECTOR_MAPPING={"django.db.backends.postgresql": "dbbackup.db.postgresql.PgDumpBinaryConnector"},
    )
    [override] = warning_ids()["django_rclone.W101"]
    assert "backups of 'postgres' ignore its HOST, USER override" in override.msg
    assert ROLE_PASSWORD not in override.hint
    translated = translate("--show-secrets")
    assert translated["CONNECTORS"] == {"postgres": {"USER": ROLE, "PASSWORD": ROLE_PASSWORD, "HOST": "127.0.0.1"}}
    assert translated["CONNECTOR_MAPPING"] == {
        "django.db.backends.postgresql": "django_rclone_postgres.connectors.PgDumpConnector"
    }
    phase(DJANGO_RCLONE=translated)
    assert_migrated_checks_are_clean()

    log = postgres_server.root / "server.log"
    postgres_server.admin_sql("ALTER SYSTEM SET log_connections = on")
    postgres_server.admin_sql("SELECT pg_reload_conf()")
    try:
        start = log.stat().st_size
        populate(pg_db)
        before = snapshot(pg_db)
        call_command("dbbackup", "-d", "postgres", verbosity=0)
        with log.open("rb") as handle:
            handle.seek(start)
            logged = handle.read().decode(errors="replace")
    finally:
        postgres_server.admin_sql("ALTER SYSTEM RESET log_connections")
        postgres_server.admin_sql("SELECT pg_reload_conf()")
    assert f"connection authorized: user={ROLE} database=rclone_test application_name=pg_dump" in logged
    assert "user=rclone_app database=rclone_test application_name=pg_dump" not in logged
    call_command("verifybackups", "-d", "postgres", verbosity=0)
    change(pg_db)
    # As the docs say, the read-only override role cannot restore; restore where it is not set.
    with pytest.raises(CommandError, match=r"must be owner|permission denied"):
        call_command("dbrestore", "-d", "postgres", "--noinput", verbosity=0)
    phase(DJANGO_RCLONE={**translated, "CONNECTORS": {}})
    call_command("dbrestore", "-d", "postgres", "--noinput", verbosity=0)
    assert snapshot(pg_db) == before
    kinds = sorted(json.loads(p.read_text())["kind"] for p in storage.rglob("*.manifest.json"))
    # the backup, and one undo backup per restore attempt (the refused one took its own first)
    assert kinds == ["backup", "pre-restore", "pre-restore"]


def _stored_dump(path: Path) -> bytes:
    """A stored backup's dump bytes, decoded by its codec extension."""
    decoder = codecs.parse(codecs.split_extension(path.name)[1]).decoder()
    data = b"".join(bytes(piece) for piece in decoder.feed(path.read_bytes()))
    decoder.finish()
    return data


# -- django-snapshots --------------------------------------------------------------------------


def test_snapshots_project_follows_the_docs_to_a_verified_restore(
    sqlite_db: str, tmp_path: Path, phase: Callable[..., None]
) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    phase(SNAPSHOTS={"DATABASE_CONNECTORS": {"default": SnapshotsStyleSqlite()}}, DJANGO_RCLONE=None)
    [old] = warning_ids()["django_rclone.W105"]
    assert "tests.core.custom_connectors.SnapshotsStyleSqlite" in old.hint
    translated = translate("--from", "snapshots")
    assert translated == {
        "REMOTE": "myremote:backups",
        "CONNECTORS": {"default": "tests.core.custom_connectors.SnapshotsStyleSqlite"},
    }
    translated["REMOTE"] = str(remote)  # step 3: the placeholder replaced by a real remote
    phase(DJANGO_RCLONE=translated)
    assert_migrated_checks_are_clean()
    Author.objects.create(name="Grace")
    call_command("dbbackup", verbosity=0)
    call_command("verifybackups", verbosity=0)
    Author.objects.all().delete()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert list(Author.objects.values_list("name", flat=True)) == ["Grace"]
    manifests = [json.loads(p.read_text()) for p in (remote / "db").glob("*.manifest.json")]
    [made] = [m for m in manifests if m["kind"] == "backup"]
    assert made["metadata"] == {"format": "sql", "by": "snapshots-style"}


# -- django-rclone 0.1.0 -----------------------------------------------------------------------


def test_0_1_project_keeps_its_settings_and_restores_its_old_backup(
    sqlite_db: str, tmp_path: Path, phase: Callable[..., None]
) -> None:
    remote = tmp_path / "remote"
    (remote / "db").mkdir(parents=True)
    settings_0_1 = {"REMOTE": str(remote), "CONNECTORS": {"default": "django_rclone.db.sqlite.SqliteConnector"}}
    phase(DJANGO_RCLONE=settings_0_1)
    # A backup 0.1.0 made: the sqlite3 shell's .dump, named by the template, no manifest.
    Author.objects.create(name="From 0.1")
    connections["default"].close()
    old_name = "default-2024-05-01-120000.sqlite3"
    dump = subprocess.run(["sqlite3", "-readonly", get_db_name(), ".dump"], capture_output=True, check=True).stdout
    (remote / "db" / old_name).write_bytes(dump)
    assert_migrated_checks_are_clean()
    # The docs: move it out of the template's way, then restore it by name.
    imported = f"imported-{old_name}"
    subprocess.run(
        [
            find_binary(get_settings().rclone_binary),
            "moveto",
            str(remote / "db" / old_name),
            str(remote / "db" / imported),
        ],
        check=True,
    )
    Author.objects.all().delete()
    Author.objects.create(name="Newer")
    connections["default"].close()
    call_command("dbrestore", "-i", imported, "--noinput", verbosity=0)
    assert list(Author.objects.values_list("name", flat=True)) == ["From 0.1"]
    call_command("dbbackup", "--clean", verbosity=0)
    call_command("verifybackups", verbosity=0)
    assert (remote / "db" / imported).read_bytes() == dump  # retention left it alone


def get_db_name() -> str:
    return str(connections["default"].settings_dict["NAME"])


def test_manage_py_dbbackup_warns_about_the_ignored_replica_override(tmp_path: Path) -> None:
    """Before migrating, the very command that makes the backup says the old override is ignored
    (the system checks run before `manage.py dbbackup`), without printing the password."""
    root = Path(__file__).resolve().parents[2]
    db = tmp_path / "db.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    (tmp_path / "remote").mkdir()
    (tmp_path / "old_project_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': {str(db)!r}}}}}\n"
        f"DJANGO_RCLONE = {{'REMOTE': {str(tmp_path / 'remote')!r}}}\n"
        "DBBACKUP_CONNECTORS = {'default': {'USER': 'backupuser', 'PASSWORD': 'pw-Secret-42', "
        "'HOST': 'replica-for-backup'}}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "old_project_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "django", "dbbackup"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "(django_rclone.W101) DBBACKUP_CONNECTORS['default'] is not read by django-rclone" in done.stderr
    assert "ignore its HOST, USER override" in done.stderr
    assert "translatesettings" in done.stderr
    assert "pw-Secret-42" not in done.stderr + done.stdout
