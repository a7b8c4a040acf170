from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from django_rclone.conf import get_settings
from django_rclone.db.base import database_settings
from django_rclone.management.base import RcloneCommand
from django_rclone.operations import retention
from django_rclone.rclone import Rclone


class Command(RcloneCommand):
    help = (
        "Delete database backups the retention policy (DB_RETENTION, else DB_CLEANUP_KEEP) does not keep, "
        "and stale orphans of failed runs, on REMOTE and on every remote in COPIES."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-d", "--database", help="Only this alias (default: every alias in DATABASES).")
        parser.add_argument("--keep", type=int, help="Keep the newest N per alias, instead of the configured policy.")
        parser.add_argument(
            "-n", "--dry-run", action="store_true", help="Print what would be deleted and why; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        conf = get_settings()
        keep = options["keep"]
        if keep is not None and keep < 1:
            raise CommandError("--keep must be 1 or more.")
        rclone = Rclone.from_settings(conf)
        if options["database"] is not None:
            database_settings(options["database"])  # an unknown alias: one line naming the known ones
        aliases = [options["database"]] if options["database"] else sorted(settings.DATABASES)
        for alias in aliases:  # an invalid per-alias policy fails before anything is deleted
            retention.policy_for(conf, alias, keep)
        verb = "Would delete" if options["dry_run"] else "Deleted"
        total = 0
        # A dry run explains itself: the policy and why each kept backup stays (also with -v 2).
        explain = 2 if not options["dry_run"] else 1
        for alias in aliases:
            if self.verbosity >= explain:
                self.info(f"Policy for {alias!r}: {retention.policy_for(conf, alias, keep).describe()}")
                for decision in retention.decisions(conf, rclone, alias, keep=keep):
                    if decision.kept:
                        self.info(f"Keep {decision.name}: {', '.join(decision.reasons)}")
            for item in retention.clean_everywhere(conf, rclone, alias, keep=keep, dry_run=options["dry_run"]):
                total += 1
                self.info(f"{verb} {item.name}: {item.reason}")
        self.info(f"{verb} {total} backup(s)." if total else "Nothing to delete.")
