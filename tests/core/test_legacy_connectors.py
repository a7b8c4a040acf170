"""Connector names from django-dbbackup and django-snapshots: dotted paths in settings, deprecated
class names in code, django-dbbackup's ``_create_dump`` / ``_restore_dump`` classes, and
django-snapshots' auto-detection functions."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils.module_loading import import_string

from django_rclone.db.compat import DumpStyleConnector
from django_rclone.legacy import DBBACKUP_CONNECTORS, LegacySettingWarning
from django_rclone.resolution import resolve
from tests.core.conftest import remote_files
from tests.testapp.models import Author

pytestmark = pytest.mark.usefixtures("no_stray_processes")

SNAPSHOTS_PATHS = {
    "django_snapshots.SQLiteConnector": "django_rclone_sqlite.connectors.SqliteConnector",
    "django_snapshots.connectors.sqlite.SQLiteConnector": "django_rclone_sqlite.connectors.SqliteConnector",
    "django_snapshots.PostgresConnector": "django_rclone_postgres.connectors.PgDumpSqlConnector",
    "django_snapshots.MySQLConnector": "django_rclone_mysql.connectors.MysqlDumpConnector",
    "django_snapshots.DjangoDumpDataConnector": "django_rclone.db.django.DjangoDumpDataConnector",
}

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}


@pytest.mark.parametrize(("old", "ours"), [*DBBACKUP_CONNECTORS.items(), *SNAPSHOTS_PATHS.items()])
def test_old_connector_path_in_connectors_resolves_to_ours_with_a_warning(
    rclone_settings: Callable[..., None], old: str, ours: str
) -> None:
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": old}})
    with pytest.warns(LegacySettingWarning, match=f"using '{ours}'"):
        resolution = resolve("default")
    assert type(resolution.connector).dotted_path() == ours
    assert resolution.rule == "CONNECTORS"


def test_old_connector_path_in_connector_mapping(rclone_settings: Callable[..., None]) -> None:
    """The seed's own example: an unusual engine mapped to a dbbackup class path."""
    rclone_settings(CONNECTOR_MAPPING={"django.db.backends.sqlite3": "dbbackup.db.sqlite.SqliteBackupConnector"})
    with pytest.warns(LegacySettingWarning, match="SqliteBackupConnector"):
        resolution = resolve("default")
    assert type(resolution.connector).dotted_path() == "django_rclone_sqlite.rawconnectors.SqliteBackupConnector"
    assert resolution.rule == "CONNECTOR_MAPPING"


def test_dbbackup_path_backs_up_and_restores(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": "dbbackup.db.sqlite.SqliteConnector"}})
    Author.objects.create(name="Ada")
    with pytest.warns(LegacySettingWarning):
        call_command("dbbackup", verbosity=0)
    Author.objects.all().delete()
    with pytest.warns(LegacySettingWarning):
        call_command("dbrestore", "--noinput", verbosity=0)
    assert list(Author.objects.values_list("name", flat=True)) == ["Ada"]


@pytest.mark.parametrize(
    ("path", "ours"),
    [
        ("django_rclone_postgres.PgDumpBinaryConnector", "django_rclone_postgres.connectors.PgDumpConnector"),
        ("django_rclone.db.postgresql.PgDumpBinaryConnector", "django_rclone_postgres.connectors.PgDumpConnector"),
        ("django_rclone_postgres.PostgresConnector", "django_rclone_postgres.connectors.PgDumpSqlConnector"),
        ("django_rclone_sqlite.SQLiteConnector", "django_rclone_sqlite.connectors.SqliteConnector"),
        ("django_rclone_mysql.MySQLConnector", "django_rclone_mysql.connectors.MysqlDumpConnector"),
        ("django_rclone.db.django.DjangoConnector", "django_rclone.db.django.DjangoDumpDataConnector"),
        ("django_rclone.db.compat.PgDumpBinaryConnector", "django_rclone_postgres.connectors.PgDumpConnector"),
        ("django_rclone.db.compat.SQLiteConnector", "django_rclone_sqlite.connectors.SqliteConnector"),
        ("django_rclone.db.compat.DjangoConnector", "django_rclone.db.django.DjangoDumpDataConnector"),
    ],
)
def test_deprecated_class_names_import_with_a_deprecation_warning(path: str, ours: str) -> None:
    with pytest.warns(DeprecationWarning, match=ours.replace(".", r"\.")):
        cls = import_string(path)
    assert cls is import_string(ours)


def test_unknown_names_still_fail_to_import() -> None:
    with pytest.raises(ImportError):
        import_string("django_rclone_postgres.NoSuchConnector")


def test_dbbackup_style_class_round_trip_with_options(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    """A ``_create_dump`` / ``_restore_dump`` class, with django-dbbackup's options as attributes."""
    rclone_settings(
        CONNECTORS={"default": {"CONNECTOR": "tests.core.custom_connectors.DbbackupStyleSqlite", "DUMP_PREFIX": "nice"}}
    )
    connector = resolve("default").connector
    assert isinstance(connector, DumpStyleConnector)
    Author.objects.create(name="Grace", bio="dbbackup ✓")
    call_command("dbbackup", verbosity=0)
    [manifest] = [p for p in (remote / "db").iterdir() if p.name.endswith(".manifest.json")]
    assert manifest.name.endswith(".sqldump.manifest.json")
    assert json.loads(manifest.read_text())["connector"] == "tests.core.custom_connectors.DbbackupStyleSqlite"
    Author.objects.all().delete()
    Author.objects.create(name="Intruder")
    call_command("dbrestore", "--noinput", verbosity=0)
    assert list(Author.objects.values_list("name", "bio")) == [("Grace", "dbbackup ✓")]


def test_dbbackup_style_failure_names_the_command_and_publishes_nothing(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": "tests.core.custom_connectors.FailingDbbackupStyle"})
    with pytest.raises(CommandError, match="sh exited with status 4: ORA-00942 table missing"):
        call_command("dbbackup", verbosity=0)
    assert remote_files(remote) == []


def test_snapshots_auto_detection_functions(rclone_settings: Callable[..., None]) -> None:
    from django_rclone.db.compat import get_connector_class, get_connector_for_alias
    from django_rclone_postgres import PgDumpConnector
    from django_rclone_sqlite import SqliteConnector

    rclone_settings()
    with pytest.warns(DeprecationWarning, match="get_connector_class is deprecated"):
        sqlite = get_connector_class("django.db.backends.sqlite3")
    assert sqlite is SqliteConnector
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.warns(DeprecationWarning, match="get_connector_class is deprecated"):
            timescale = get_connector_class("timescale.db.backends.postgresql")
    assert timescale is PgDumpConnector
    with pytest.warns(DeprecationWarning, match="get_connector_for_alias is deprecated"):
        connector: Any = get_connector_for_alias("default")
    assert isinstance(connector, SqliteConnector)
    assert connector.database == "default"
