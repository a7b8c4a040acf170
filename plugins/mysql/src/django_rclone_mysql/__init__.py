"""MySQL and MariaDB connector for django-rclone."""

from __future__ import annotations

from django_rclone_mysql.connectors import MysqlDumpConnector

__version__ = "0.2.0"
__all__ = ["MysqlDumpConnector", "__version__"]
