from __future__ import annotations

from django.apps import AppConfig


class DjangoRcloneConfig(AppConfig):
    name = "django_rclone"
    verbose_name = "django-rclone"
