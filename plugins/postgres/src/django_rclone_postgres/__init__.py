"""PostgreSQL and PostGIS connectors for django-rclone."""

from __future__ import annotations

from typing import Any

from django_rclone_postgres.base import PostgresCommandConnector, PsqlError
from django_rclone_postgres.connectors import (
    PgDumpConnector,
    PgDumpGisConnector,
    PgDumpGisSqlConnector,
    PgDumpSqlConnector,
)

__version__ = "0.2.0"
__all__ = [
    "PgDumpConnector",
    "PgDumpGisConnector",
    "PgDumpGisSqlConnector",
    "PgDumpSqlConnector",
    "PostgresCommandConnector",
    "PsqlError",
    "__version__",
]

#: Deprecated names (django-dbbackup / django-snapshots) and the connector each stands for.
_DEPRECATED = {
    "PgDumpBinaryConnector": "django_rclone_postgres.connectors.PgDumpConnector",
    "PostgresConnector": "django_rclone_postgres.connectors.PgDumpSqlConnector",
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        from django_rclone.db.compat import alias

        return alias(__name__, name, _DEPRECATED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
