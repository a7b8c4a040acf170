"""Per-alias connection overrides: back up as a dedicated read-only role without touching DATABASES."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from tests.plugins.postgres.data import change, populate, snapshot
from tests.servers.postgres import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

ROLE = "rclone_backup_reader"
ROLE_PASSWORD = "reader 'quoted' pw $HOME"  # spaces, quotes and a shell-looking word


@pytest.fixture
def reader_role(postgres_server: PostgresServer) -> Iterator[str]:
    """A login role that can read every table (pg_read_all_data) and owns nothing."""
    quoted = ROLE_PASSWORD.replace("'", "''")
    postgres_server.admin_sql(f"DROP ROLE IF EXISTS {ROLE}")
    postgres_server.admin_sql("SET password_encryption = 'scram-sha-256'")
    postgres_server.admin_sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{quoted}'")
    postgres_server.admin_sql(f"GRANT pg_read_all_data TO {ROLE}")
    yield ROLE
    postgres_server.admin_sql(f"DROP ROLE IF EXISTS {ROLE}")


def test_backup_and_restore_run_as_the_override_role(
    pg_db: str, reader_role: str, rclone_settings: Callable[..., None]
) -> None:
    rclone_settings(CONNECTORS={"postgres": {"USER": reader_role, "PASSWORD": ROLE_PASSWORD, "HOST": "127.0.0.1"}})
    app_user = connections["postgres"].settings_dict["USER"]
    assert app_user != reader_role
    populate(pg_db)
    before = snapshot(pg_db)
    call_command("dbbackup", "-d", "postgres", verbosity=0)
    change(pg_db)
    # Restoring needs ownership: the reader role must not be able to, which proves the override
    # is what the tools use (DATABASES' owner role would succeed).
    with pytest.raises(CommandError, match=r"must be owner|permission denied"):
        call_command("dbrestore", "-d", "postgres", "--noinput", verbosity=0)
    rclone_settings(CONNECTORS={})
    call_command("dbrestore", "-d", "postgres", "--noinput", verbosity=0)
    assert snapshot(pg_db) == before
    assert connections["postgres"].settings_dict["USER"] == app_user


def test_wrong_override_password_fails_the_backup(
    pg_db: str, reader_role: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"postgres": {"USER": reader_role, "PASSWORD": "not the password"}})
    with pytest.raises(CommandError, match="password authentication failed"):
        call_command("dbbackup", "-d", "postgres", verbosity=0)
    assert not [p for p in remote.rglob("*") if p.is_file()]
