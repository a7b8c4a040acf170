"""PostgreSQL and PostGIS connectors for django-rclone."""

from __future__ import annotations

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
