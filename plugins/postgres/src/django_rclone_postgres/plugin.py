"""django-rclone plugin entry point: the engines this distribution serves."""

from __future__ import annotations

from django_rclone import hookimpl

PG_DUMP = "django_rclone_postgres.connectors.PgDumpConnector"
PG_DUMP_GIS = "django_rclone_postgres.connectors.PgDumpGisConnector"

ENGINES: dict[str, str] = {
    "django.db.backends.postgresql": PG_DUMP,
    "django_prometheus.db.backends.postgresql": PG_DUMP,
    "django.contrib.gis.db.backends.postgis": PG_DUMP_GIS,
    "django_prometheus.db.backends.postgis": PG_DUMP_GIS,
}


@hookimpl
def django_rclone_engines() -> dict[str, str]:
    return dict(ENGINES)
