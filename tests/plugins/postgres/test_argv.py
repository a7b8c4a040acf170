"""Exact argv and environment of the PostgreSQL connectors for each option (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_rclone_postgres.base import owned_extension_args
from django_rclone_postgres.connectors import (
    PgDumpConnector,
    PgDumpGisConnector,
    PgDumpGisSqlConnector,
    PgDumpSqlConnector,
)
from tests.settings import DB_PASSWORD, PG_PORT

CONN = ["-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "rclone_app"]


def pg(**options: Any) -> PgDumpConnector:
    return PgDumpConnector("postgres", options)


def sqlc(**options: Any) -> PgDumpSqlConnector:
    return PgDumpSqlConnector("postgres", options)


def test_default_dump_and_restore_argv() -> None:
    connector = pg()
    assert connector.extension == "dump"
    assert connector.dump_argv() == ["pg_dump", "--format=custom", "--no-password", *CONN, "rclone_test"]
    assert connector.restore_argv() == [
        "pg_restore",
        "--no-owner",
        "--no-acl",
        "--clean",
        "--if-exists",
        "--no-password",
        "--single-transaction",
        *CONN,
        "-d",
        "rclone_test",
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"DROP": False}, ["--no-owner", "--no-acl", "--no-password", "--single-transaction"]),
        # IF_EXISTS alone would make pg_restore exit with "--if-exists requires -c/--clean".
        ({"DROP": False, "IF_EXISTS": True}, ["--no-owner", "--no-acl", "--no-password", "--single-transaction"]),
        ({"IF_EXISTS": False}, ["--no-owner", "--no-acl", "--clean", "--no-password", "--single-transaction"]),
        ({"SINGLE_TRANSACTION": False}, ["--no-owner", "--no-acl", "--clean", "--if-exists", "--no-password"]),
        ({"SINGLE_TRANSACTION": "false", "DROP": "0"}, ["--no-owner", "--no-acl", "--no-password"]),
    ],
)
def test_restore_flags(options: dict[str, Any], expected: list[str]) -> None:
    assert pg(**options).restore_argv() == ["pg_restore", *expected, *CONN, "-d", "rclone_test"]


def test_schemas_and_exclude_select_objects_on_the_dump_side() -> None:
    connector = pg(SCHEMAS=["public", "extra"], EXCLUDE=["testapp_note", "django_session"])
    assert connector.dump_argv() == [
        "pg_dump",
        "--format=custom",
        "--no-password",
        "-n",
        "public",
        "-n",
        "extra",
        "--exclude-table",
        "testapp_note",
        "--exclude-table",
        "django_session",
        *CONN,
        "rclone_test",
    ]
    assert pg(SCHEMAS="public").dump_argv()[3:5] == ["-n", "public"]
    with pytest.raises(ImproperlyConfigured, match="EXCLUDE"):
        pg(EXCLUDE=[1]).dump_argv()


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        (0, "--compress=0"),
        (9, "--compress=9"),
        ("6", "--compress=6"),
        ("zstd:3", "--compress=zstd:3"),
        ("LZ4", "--compress=lz4"),
    ],
)
def test_compression(value: Any, flag: str) -> None:
    assert pg(COMPRESSION=value).dump_argv()[:3] == ["pg_dump", "--format=custom", flag]


@pytest.mark.parametrize("value", [10, -1, "fast", True, "zstd;rm"])
def test_bad_compression_is_a_configuration_error(value: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="COMPRESSION"):
        pg(COMPRESSION=value).dump_argv()


def test_sql_connector_argv() -> None:
    connector = sqlc()
    assert connector.extension == "sql"
    assert connector.dump_argv() == [
        "pg_dump",
        "--format=plain",
        "--no-owner",
        "--no-privileges",
        "--no-password",
        "--clean",
        "--if-exists",
        *CONN,
        "rclone_test",
    ]
    assert connector.restore_argv() == [
        "psql",
        "--no-password",
        "--no-psqlrc",
        "--quiet",
        "-v",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        *CONN,
        "-d",
        "rclone_test",
        "--file=-",
    ]
    assert "--clean" not in sqlc(DROP=False).dump_argv()
    assert "--if-exists" not in sqlc(DROP=False).dump_argv()
    assert "--single-transaction" not in sqlc(SINGLE_TRANSACTION=False).restore_argv()
    with pytest.raises(ImproperlyConfigured, match="COMPRESSION"):
        sqlc(COMPRESSION=5).dump_argv()


def test_password_only_in_environment() -> None:
    connector = pg()
    for argv in (connector.dump_argv(), connector.restore_argv()):
        assert not any(DB_PASSWORD in word for word in argv)
    for phase in ("DUMP", "RESTORE"):
        assert connector.environment(phase)["PGPASSWORD"] == DB_PASSWORD  # type: ignore[arg-type]


def test_libpq_options_become_environment_variables() -> None:
    options = {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ssl/root.crt",
        "sslcert": "/etc/ssl/client.crt",
        "sslkey": "/etc/ssl/client.key",
        "connect_timeout": 7,
        "application_name": "backup",
        "options": "-c statement_timeout=0",
        "target_session_attrs": "read-write",
        "sslcompression": True,
        "isolation_level": 2,  # psycopg's, not libpq's: ignored
        "pool": True,
    }
    env = pg(OPTIONS=options).environment("DUMP")
    assert {k: env[k] for k in env if k.startswith("PG") and k != "PGPASSWORD"} == {
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": "/etc/ssl/root.crt",
        "PGSSLCERT": "/etc/ssl/client.crt",
        "PGSSLKEY": "/etc/ssl/client.key",
        "PGCONNECT_TIMEOUT": "7",
        "PGAPPNAME": "backup",
        "PGOPTIONS": "-c statement_timeout=0",
        "PGTARGETSESSIONATTRS": "read-write",
        "PGSSLCOMPRESSION": "1",
    }


def test_env_options_win_over_database_options_and_parent_env_can_be_dropped() -> None:
    connector = pg(OPTIONS={"sslmode": "require"}, DUMP_ENV={"PGSSLMODE": "disable"}, USE_PARENT_ENV=False)
    dump_env = connector.environment("DUMP")
    assert dump_env == {"PGPASSWORD": DB_PASSWORD, "PGSSLMODE": "disable"}
    assert connector.environment("RESTORE")["PGSSLMODE"] == "require"


def test_connection_parts_are_optional_and_name_is_required() -> None:
    connector = pg(HOST="", PORT="", USER="")
    assert connector.dump_argv() == ["pg_dump", "--format=custom", "--no-password", "rclone_test"]
    with pytest.raises(ImproperlyConfigured, match="NAME"):
        pg(NAME="").restore_argv()


def test_admin_psql_uses_admin_role_and_password_by_environment() -> None:
    connector = PgDumpGisConnector(
        "postgres", {"ADMIN_USER": "boss", "ADMIN_PASSWORD": "s3cret adm", "PSQL_CMD": "/opt/psql"}
    )
    argv = connector.psql_argv(connector.extension_sql, user="boss")
    assert argv == [
        "/opt/psql",
        "--no-password",
        "--no-psqlrc",
        "--quiet",
        "--no-align",
        "--tuples-only",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        str(PG_PORT),
        "-U",
        "boss",
        "-d",
        "rclone_test",
        "-c",
        "CREATE EXTENSION IF NOT EXISTS postgis;",
    ]
    assert connector.admin_environment()["PGPASSWORD"] == "s3cret adm"
    # Without ADMIN_PASSWORD the admin role is never handed the application's password.
    assert "PGPASSWORD" not in PgDumpGisConnector("postgres", {"ADMIN_USER": "boss"}).admin_environment()


def test_owned_extension_selection() -> None:
    assert owned_extension_args([]) == []
    assert owned_extension_args([("hstore", True), ("pg_trgm", True)]) == []
    assert owned_extension_args([("hstore", True), ("postgis", False)]) == [
        '--extension="plpgsql"',
        '--extension="hstore"',
        "-b",
    ]
    assert PgDumpGisConnector.owned_extensions_only
    assert PgDumpGisSqlConnector.owned_extensions_only
    assert not PgDumpConnector.owned_extensions_only


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_options_can_live_in_databases() -> None:
    from django.conf import settings

    databases = {
        **settings.DATABASES,
        "postgres": {**settings.DATABASES["postgres"], "DROP": False, "SCHEMAS": ["app"]},
    }
    with override_settings(DATABASES=databases):
        connector = PgDumpConnector("postgres")
        assert "--clean" not in connector.restore_argv()
        assert connector.dump_argv()[3:5] == ["-n", "app"]
        # The per-alias dict from DJANGO_RCLONE["CONNECTORS"] wins over DATABASES.
        assert "--clean" in PgDumpConnector("postgres", {"DROP": True}).restore_argv()
