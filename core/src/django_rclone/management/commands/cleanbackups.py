from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from django_rclone.conf import get_settings
from django_rclone.management.base import RcloneCommand
from django_rclone.operations import retention
from django_rclone.rclone import Rclone


class Command(RcloneCommand):
    help = "Delete old database backups beyond the retention count, and stale orphans of failed runs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-d", "--database", help="Only this alias (default: every alias in DATABASES).")
        parser.add_argument("--keep", type=int, help="Backups to keep per alias (default: DB_CLEANUP_KEEP).")
        parser.add_argument(
            "-n", "--dry-run", action="store_true", help="Print what would be deleted and why; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        conf = get_settings()
        keep = conf.db_cleanup_keep if options["keep"] is None else options["keep"]
        if keep < 1:
            raise CommandError("--keep must be 1 or more.")
        rclone = Rclone.from_settings(conf)
        aliases = [options["database"]] if options["database"] else sorted(settings.DATABASES)
        verb = "Would delete" if options["dry_run"] else "Deleted"
        total = 0
        for alias in aliases:
            for item in retention.clean(conf, rclone, alias, keep=keep, dry_run=options["dry_run"]):
                total += 1
                self.info(f"{verb} {item.name}: {item.reason}")
        self.info(f"{verb} {total} backup(s)." if total else "Nothing to delete.")
