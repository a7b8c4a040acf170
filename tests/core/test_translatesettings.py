"""Old settings are not silently ignored: system checks W101-W107 and ``translatesettings``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.test import override_settings

from django_rclone.conf import load_settings
from tests.core.custom_connectors import SnapshotsStyleSqlite

SECRET = "backuppassword-Zq7"
S3_SECRET = "s3-secret-Kx9"

#: A project set up as the django-dbbackup database settings page documents it.
DBBACKUP = {
    "DBBACKUP_CONNECTORS": {
        "default": {"USER": "backupuser", "PASSWORD": SECRET, "HOST": "replica-for-backup"},
        "other": {"CONNECTOR": "dbbackup.db.sqlite.SqliteBackupConnector", "EXCLUDE": ["django_session"]},
        "pg": {"DUMP_ENV": {"PGSSLMODE": "require", "PGPASSWORD": SECRET}},
    },
    "DBBACKUP_CONNECTOR_MAPPING": {"transaction_hooks.backends.postgis": "dbbackup.db.postgresql.PgDumpGisConnector"},
    "STORAGES": {
        **settings.STORAGES,
        "dbbackup": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "acme-backups",
                "location": "db",
                "region_name": "eu-west-1",
                "access_key": "AKIA-example",
                "secret_key": S3_SECRET,
            },
        },
    },
    "DBBACKUP_CLEANUP_KEEP": 5,
    "DBBACKUP_FILENAME_TEMPLATE": "{databasename}-{servername}-{datetime}.{extension}",
    "DBBACKUP_GPG_RECIPIENT": "ops@example.com",
    "DJANGO_RCLONE": None,  # not written yet
}


@pytest.fixture
def old_settings() -> Iterator[Any]:
    stack: list[Any] = []

    def apply(**values: Any) -> None:
        override = override_settings(**values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            override.enable()
        stack.append(override)

    yield apply
    for override in reversed(stack):
        override.disable()


def translated(*args: str) -> tuple[str, dict[str, Any]]:
    out = StringIO()
    call_command("translatesettings", *args, stdout=out, stderr=StringIO())
    text = out.getvalue()
    namespace: dict[str, Any] = {}
    exec(compile(text, "translated", "exec"), namespace)  # noqa: S102 - the output must be valid Python
    return text, namespace["DJANGO_RCLONE"]


def messages(check_id: str) -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks(tags=["django_rclone"]) if m.id == check_id]


def test_translatesettings_prints_a_complete_valid_dict_from_dbbackup_settings(old_settings: Any) -> None:
    old_settings(**DBBACKUP)
    text, result = translated()
    assert result["CONNECTORS"]["default"]["HOST"] == "replica-for-backup"
    assert result["CONNECTORS"]["default"]["USER"] == "backupuser"
    assert result["CONNECTORS"]["default"]["PASSWORD"] == "<secret: copy DBBACKUP_CONNECTORS['default']['PASSWORD']>"
    assert result["CONNECTORS"]["other"] == {
        "CONNECTOR": "django_rclone_sqlite.rawconnectors.SqliteBackupConnector",
        "EXCLUDE": ["django_session"],
    }
    assert result["CONNECTORS"]["pg"]["DUMP_ENV"] == {
        "PGSSLMODE": "require",
        "PGPASSWORD": "<secret: copy DBBACKUP_CONNECTORS['pg']['DUMP_ENV']['PGPASSWORD']>",
    }
    assert result["CONNECTOR_MAPPING"] == {
        "transaction_hooks.backends.postgis": "django_rclone_postgres.connectors.PgDumpGisSqlConnector"
    }
    assert result["REMOTE"] == "dbbackup:acme-backups/db"
    assert result["DB_CLEANUP_KEEP"] == 5
    assert result["DB_FILENAME_TEMPLATE"] == "{database}-{servername}-{datetime}.{ext}"
    load_settings(result)  # the translation is valid DJANGO_RCLONE
    for line in ("# [dbbackup]", "# type = s3", "# region = eu-west-1", "RCLONE_CONFIG_DBBACKUP_SECRET_ACCESS_KEY"):
        assert line in text
    assert "crypt" in text  # the GPG note
    assert SECRET not in text
    assert S3_SECRET not in text


def test_show_secrets_prints_the_password(old_settings: Any) -> None:
    old_settings(**DBBACKUP)
    text, result = translated("--show-secrets")
    assert result["CONNECTORS"]["default"]["PASSWORD"] == SECRET
    assert S3_SECRET not in text  # storage keys belong in rclone's environment, never printed


def test_current_django_rclone_wins_and_filesystem_storage_becomes_a_local_remote(
    old_settings: Any, tmp_path: Path
) -> None:
    old_settings(
        DBBACKUP_STORAGE="django.core.files.storage.FileSystemStorage",
        DBBACKUP_STORAGE_OPTIONS={"location": str(tmp_path / "backups")},
        DBBACKUP_CONNECTORS={"default": {"HOST": "replica"}},
        DJANGO_RCLONE={"REMOTE": "s3:bucket", "CONNECTORS": {"default": {"HOST": "replica-2"}}, "DB_CLEANUP_KEEP": 3},
    )
    _, result = translated()
    assert result == {"REMOTE": "s3:bucket", "DB_CLEANUP_KEEP": 3, "CONNECTORS": {"default": {"HOST": "replica-2"}}}
    old_settings(DJANGO_RCLONE=None)
    _, result = translated()
    assert result["REMOTE"] == str(tmp_path / "backups")


def test_translatesettings_from_snapshots(old_settings: Any) -> None:
    old_settings(
        SNAPSHOTS={
            "DATABASE_CONNECTORS": {
                "default": SnapshotsStyleSqlite(),
                "other": "auto",
                "pg": "django_snapshots.PostgresConnector",
            },
            "STORAGE": {"BACKEND": "x"},
        }
    )
    text, result = translated("--from", "snapshots")
    assert result["CONNECTORS"] == {
        "default": "tests.core.custom_connectors.SnapshotsStyleSqlite",
        "other": "auto",
        "pg": "django_rclone_postgres.connectors.PgDumpSqlConnector",
    }
    assert "SNAPSHOTS keys ['STORAGE'] are not translated" in text


def test_checks_warn_for_each_old_setting_with_its_equivalent(old_settings: Any) -> None:
    old_settings(**DBBACKUP, SNAPSHOTS={"DATABASE_CONNECTORS": {"default": "django_snapshots.SQLiteConnector"}})
    [replica, other, pg] = messages("django_rclone.W101")
    assert SECRET not in pg.hint
    assert "backups of 'default' ignore its HOST, USER override" in replica.msg
    assert "'HOST': 'replica-for-backup'" in replica.hint
    assert SECRET not in replica.hint
    assert "translatesettings" in replica.hint
    assert "SqliteBackupConnector" in other.hint
    [mapping] = messages("django_rclone.W102")
    assert "PgDumpGisSqlConnector" in mapping.hint
    [storage] = messages("django_rclone.W103")
    assert "dbbackup:acme-backups/db" in storage.hint
    assert {m.obj or m.msg.split(" ")[0] for m in messages("django_rclone.W104")} == {
        "DBBACKUP_CLEANUP_KEEP",
        "DBBACKUP_FILENAME_TEMPLATE",
        "DBBACKUP_GPG_RECIPIENT",
    }
    [snap] = messages("django_rclone.W105")
    assert "django_rclone_sqlite.connectors.SqliteConnector" in snap.hint
    assert all(
        m.level == checks.WARNING for m in checks.run_checks(tags=["django_rclone"]) if m.id >= "django_rclone.W1"
    )


def test_no_old_settings_no_warnings(remote: Path) -> None:
    found = [m for m in checks.run_checks(tags=["django_rclone"]) if m.id.startswith("django_rclone.W1")]
    assert found == []


def test_old_connector_path_inside_django_rclone_and_engine_family_are_reported(
    old_settings: Any, remote: Path
) -> None:
    old_settings(
        DJANGO_RCLONE={"REMOTE": str(remote), "CONNECTORS": {"default": "dbbackup.db.sqlite.SqliteConnector"}},
        DATABASES={**settings.DATABASES, "tenants": {"ENGINE": "django_tenants.postgresql_backend", "NAME": "t"}},
    )
    [path] = messages("django_rclone.W106")
    assert "Write 'django_rclone_sqlite.connectors.SqliteConnector' there" in path.hint
    [family] = messages("django_rclone.W107")
    assert "'tenants'" in family.msg
    assert "CONNECTOR_MAPPING']['django_tenants.postgresql_backend'] = " in family.hint


def test_odd_values_still_give_valid_python(old_settings: Any, tmp_path: Path) -> None:
    """Paths become strings and objects that have no literal form become placeholders, so the
    printed dict always executes; malformed old settings never break the checks."""
    old_settings(
        DJANGO_RCLONE=None,
        DBBACKUP_CONNECTORS={"default": {"NAME": tmp_path / "db.sqlite3", "ENV": {"X": object()}}},
        DBBACKUP_STORAGE_OPTIONS={"location": tmp_path},
        SNAPSHOTS={"DATABASE_CONNECTORS": ["not", "a", "dict"]},
    )
    text, result = translated()
    assert result["CONNECTORS"]["default"]["NAME"] == str(tmp_path / "db.sqlite3")
    assert result["CONNECTORS"]["default"]["ENV"]["X"].startswith("<not translated")
    assert result["REMOTE"] == str(tmp_path)
    assert "cannot be written as a setting here" in text
    assert messages("django_rclone.W101")


def test_old_paths_already_in_django_rclone_are_rewritten(old_settings: Any, remote: Path) -> None:
    old_settings(
        DJANGO_RCLONE={
            "REMOTE": str(remote),
            "CONNECTORS": {"default": {"CONNECTOR": "dbbackup.db.sqlite.SqliteCPConnector"}, "x": "auto"},
            "CONNECTOR_MAPPING": {"mysql.connector.django": "django_snapshots.MySQLConnector"},
        }
    )
    _, result = translated()
    assert result["CONNECTORS"] == {
        "default": {"CONNECTOR": "django_rclone_sqlite.rawconnectors.SqliteCPConnector"},
        "x": "auto",
    }
    assert result["CONNECTOR_MAPPING"] == {
        "mysql.connector.django": "django_rclone_mysql.connectors.MysqlDumpConnector"
    }


def test_connection_string_with_a_password_is_masked(old_settings: Any) -> None:
    uri = "mongodb://app:Sup3r-secret@db1:27017/shop?authSource=admin"
    old_settings(DJANGO_RCLONE=None, DBBACKUP_CONNECTORS={"mongo": {"HOST": uri, "AUTH_SOURCE": "admin"}})
    text, result = translated()
    assert "Sup3r-secret" not in text
    assert result["CONNECTORS"]["mongo"]["HOST"].startswith("<secret: copy DBBACKUP_CONNECTORS['mongo']['HOST']")
    assert "Sup3r-secret" not in messages("django_rclone.W101")[0].hint
    _, shown = translated("--show-secrets")
    assert shown["CONNECTORS"]["mongo"]["HOST"] == uri
