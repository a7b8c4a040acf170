"""0.1.0 import path of the PostgreSQL and PostGIS connectors, now in the django-rclone-postgres distribution."""

from __future__ import annotations

from django_rclone.db.moved import forward

__getattr__ = forward(__name__, "django_rclone_postgres", "django-rclone-postgres")
