"""django-rclone plugin entry point: the engines this distribution serves."""

from __future__ import annotations

from django_rclone import hookimpl

ENGINES = (
    "django.db.backends.mysql",
    "django.contrib.gis.db.backends.mysql",
    "django_prometheus.db.backends.mysql",
)


@hookimpl
def django_rclone_engines() -> dict[str, str]:
    return {engine: "django_rclone_mysql.connectors.MysqlDumpConnector" for engine in ENGINES}
