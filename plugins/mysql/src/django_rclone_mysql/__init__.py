"""MySQL and MariaDB connector for django-rclone."""

from __future__ import annotations

from typing import Any

from django_rclone_mysql.connectors import MysqlDumpConnector

__version__ = "0.2.0"
__all__ = ["MysqlDumpConnector", "__version__"]

#: Deprecated names (django-dbbackup / django-snapshots) and the connector each stands for.
_DEPRECATED = {
    "MySQLConnector": "django_rclone_mysql.connectors.MysqlDumpConnector",
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        from django_rclone.db.compat import alias

        return alias(__name__, name, _DEPRECATED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
