"""0.1.0 import path of the MongoDB connectors, now in the django-rclone-mongodb distribution."""

from __future__ import annotations

from django_rclone.db.moved import forward

__getattr__ = forward(__name__, "django_rclone_mongodb", "django-rclone-mongodb")
