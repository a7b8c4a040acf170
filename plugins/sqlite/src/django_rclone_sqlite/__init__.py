"""SQLite and SpatiaLite connectors for django-rclone."""

from __future__ import annotations

from django_rclone_sqlite.connectors import SqliteConnector

__version__ = "0.2.0"
__all__ = ["SqliteConnector", "__version__"]
