"""SQLite and SpatiaLite connectors for django-rclone."""

from __future__ import annotations

from django_rclone_sqlite.connectors import SqliteConnector
from django_rclone_sqlite.rawconnectors import SqliteBackupConnector, SqliteCPConnector

__version__ = "0.2.0"
__all__ = ["SqliteBackupConnector", "SqliteCPConnector", "SqliteConnector", "__version__"]
