"""SQLite and SpatiaLite connectors for django-rclone."""

from __future__ import annotations

from typing import Any

from django_rclone_sqlite.connectors import SqliteConnector
from django_rclone_sqlite.rawconnectors import SqliteBackupConnector, SqliteCPConnector

__version__ = "0.2.0"
__all__ = ["SqliteBackupConnector", "SqliteCPConnector", "SqliteConnector", "__version__"]

#: Deprecated names (django-dbbackup / django-snapshots) and the connector each stands for.
_DEPRECATED = {
    "SQLiteConnector": "django_rclone_sqlite.connectors.SqliteConnector",
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        from django_rclone.db.compat import alias

        return alias(__name__, name, _DEPRECATED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
