"""PostGIS round trips: a geometry column survives, and ADMIN_USER creates the extension first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.plugins.postgres.data import change, populate, snapshot
from tests.servers.postgres import PostgresServer

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.postgis,
    pytest.mark.integration,
    pytest.mark.usefixtures("no_stray_processes"),
]

GIS = "django_rclone_postgres.connectors.PgDumpGisConnector"
GIS_SQL = "django_rclone_postgres.connectors.PgDumpGisSqlConnector"

Settings = Callable[..., None]


def places(alias: str) -> list[tuple[Any, ...]]:
    from tests.gisapp.models import Place

    return [(p.pk, p.name, p.location.srid, p.location.coords) for p in Place.objects.using(alias).order_by("pk")]


def add_places(alias: str) -> None:
    from django.contrib.gis.geos import Point

    from tests.gisapp.models import Place

    Place.objects.using(alias).create(name="Zürich", location=Point(8.5417, 47.3769, srid=4326))
    Place.objects.using(alias).create(name="Null Island", location=Point(0, 0, srid=4326))


def roundtrip(alias: str) -> None:
    from tests.gisapp.models import Place

    add_places(alias)
    populate(alias)
    before = (places(alias), snapshot(alias))
    call_command("dbbackup", "-d", alias, verbosity=0)
    Place.objects.using(alias).filter(name="Null Island").delete()
    Place.objects.using(alias).filter(name="Zürich").update(name="Zurich")
    change(alias)
    assert (places(alias), snapshot(alias)) != before
    call_command("dbrestore", "-d", alias, "--noinput", verbosity=0)
    assert (places(alias), snapshot(alias)) == before


def admin(server: PostgresServer, **extra: Any) -> dict[str, Any]:
    return {"ADMIN_USER": server.admin_user, "ADMIN_PASSWORD": server.admin_password, **extra}


def test_default_connector_round_trip(postgis_db: str, remote: Path) -> None:
    from django_rclone.resolution import resolve

    assert type(resolve(postgis_db).connector).__name__ == "PgDumpGisConnector"
    roundtrip(postgis_db)


@pytest.mark.parametrize("connector", [GIS, GIS_SQL], ids=["custom", "sql"])
def test_admin_user_recreates_a_dropped_extension(
    postgis_db: str, postgres_server: PostgresServer, rclone_settings: Settings, connector: str
) -> None:
    """The extension is dropped after the backup; only ADMIN_USER can bring it back before the restore."""
    rclone_settings(CONNECTORS={postgis_db: {"CONNECTOR": connector, **admin(postgres_server)}})
    add_places(postgis_db)
    before = places(postgis_db)
    call_command("dbbackup", "-d", postgis_db, verbosity=0)
    postgres_server.admin_sql("DROP EXTENSION postgis CASCADE", dbname="rclone_gis")  # drops the geometry column
    try:
        call_command("dbrestore", "-d", postgis_db, "--noinput", verbosity=0)
        assert places(postgis_db) == before
    finally:
        postgres_server.admin_sql("CREATE EXTENSION IF NOT EXISTS postgis", dbname="rclone_gis")


def test_without_admin_user_a_missing_extension_is_not_created(
    postgis_db: str, postgres_server: PostgresServer, remote: Path
) -> None:
    """The control for the test above: the application role cannot create PostGIS itself."""
    add_places(postgis_db)
    call_command("dbbackup", "-d", postgis_db, verbosity=0)
    postgres_server.admin_sql("DROP EXTENSION postgis CASCADE", dbname="rclone_gis")
    try:
        with pytest.raises(CommandError, match="geometry"):
            call_command("dbrestore", "-d", postgis_db, "--noinput", verbosity=0)
    finally:
        # With the extension back, the same backup restores the geometry column for later tests.
        postgres_server.admin_sql("CREATE EXTENSION IF NOT EXISTS postgis", dbname="rclone_gis")
        call_command("dbrestore", "-d", postgis_db, "--noinput", verbosity=0)
    assert [p[1] for p in places(postgis_db)] == ["Zürich", "Null Island"]


def test_wrong_admin_password_is_a_clear_error(
    postgis_db: str, postgres_server: PostgresServer, rclone_settings: Settings
) -> None:
    rclone_settings(CONNECTORS={postgis_db: admin(postgres_server, ADMIN_PASSWORD="not it")})
    add_places(postgis_db)
    before = places(postgis_db)
    call_command("dbbackup", "-d", postgis_db, verbosity=0)
    with pytest.raises(CommandError, match=r"psql as ADMIN_USER 'rclone_admin'.*password authentication failed"):
        call_command("dbrestore", "-d", postgis_db, "--noinput", verbosity=0)
    assert places(postgis_db) == before
