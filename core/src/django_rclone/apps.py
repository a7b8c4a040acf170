from __future__ import annotations

from django.apps import AppConfig


class DjangoRcloneConfig(AppConfig):
    name = "django_rclone"
    default_auto_field = "django.db.models.AutoField"
    verbose_name = "django-rclone"

    def ready(self) -> None:
        # System checks (docs/checks.md); registering them imports no plugin and runs nothing.
        from django_rclone import checks, checks_migration, pings

        checks.register()
        checks_migration.register()
        # Monitoring pings ride on the operations' signals; without PING_URLS they send nothing.
        pings.connect()
        # Copies to the remotes in COPIES ping as the "copy" operation.
        from django_rclone import copies

        copies.connect()
