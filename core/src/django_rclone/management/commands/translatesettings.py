"""``translatesettings``: print ``DJANGO_RCLONE`` translated from django-dbbackup / django-snapshots settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from django_rclone.management.base import RcloneCommand
from django_rclone.translate import translate


class Command(RcloneCommand):
    help = (
        "Print a complete DJANGO_RCLONE dict (Python to paste into settings.py) translated from the project's "
        "django-dbbackup (DBBACKUP_*, STORAGES['dbbackup']) and django-snapshots (SNAPSHOTS) settings, with a "
        "suggested rclone remote for the old storage."
    )
    # It exists to fix settings, so it must run while they are still wrong.
    requires_system_checks: list[str] = []  # type: ignore[assignment]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="source",
            choices=["all", "dbbackup", "snapshots"],
            default="all",
            help="Which old settings to translate (default: all).",
        )
        parser.add_argument(
            "--show-secrets",
            action="store_true",
            help="Print passwords from DBBACKUP_CONNECTORS as they are instead of placeholders.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["source"]
        found = translate(
            settings,
            dbbackup=source in ("all", "dbbackup"),
            snapshots=source in ("all", "snapshots"),
            show_secrets=options["show_secrets"],
        )
        if not found.sources:
            self.stderr.write("No django-dbbackup or django-snapshots settings found; printing DJANGO_RCLONE as it is.")
        self.stdout.write(found.render(), ending="")
