"""0.1.0 import path of the MySQL/MariaDB connectors, now in the django-rclone-mysql distribution."""

from __future__ import annotations

from django_rclone.db.moved import forward

__getattr__ = forward(__name__, "django_rclone_mysql", "django-rclone-mysql")
