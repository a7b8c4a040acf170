"""django-rclone plugin entry point: the engines this distribution serves."""

from __future__ import annotations

from django_rclone import hookimpl

ENGINES = (
    "django.db.backends.sqlite3",
    "django.contrib.gis.db.backends.spatialite",
    "django_prometheus.db.backends.sqlite3",
)


@hookimpl
def django_rclone_engines() -> dict[str, str]:
    return {engine: "django_rclone_sqlite.connectors.SqliteConnector" for engine in ENGINES}
