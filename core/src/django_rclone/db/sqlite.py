"""0.1.0 import path of the SQLite connectors, now in the django-rclone-sqlite distribution."""

from __future__ import annotations

from django_rclone.db.moved import forward

__getattr__ = forward(__name__, "django_rclone_sqlite", "django-rclone-sqlite")
