"""``synccopies``: fill the copies on the remotes in ``COPIES`` that are missing or incomplete."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_rclone.conf import get_settings
from django_rclone.copies import sync_copies
from django_rclone.management import progress
from django_rclone.management.base import RcloneCommand, human_size


class Command(RcloneCommand):
    help = (
        "Copy every committed backup on REMOTE that a remote in COPIES lacks (or holds without the "
        "primary's exact manifest); exits non-zero if any copy fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-d", "--database", help="Only backups of this alias (default: every backup).")
        parser.add_argument(
            "--remote", action="append", help="Only this remote from COPIES (may be repeated; default: all)."
        )
        parser.add_argument("-n", "--dry-run", action="store_true", help="Print what would be copied; copy nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        if not get_settings().copies:
            raise CommandError("DJANGO_RCLONE['COPIES'] is empty: there is no remote to copy backups to.")
        with progress.shown(self, "Copying backups"):
            result = sync_copies(
                options["database"], remotes=options["remote"], sender=type(self), dry_run=options["dry_run"]
            )
        verb = "Would copy" if options["dry_run"] else "Copied"
        for copy in result.copied:
            self.info(f"{verb} {copy.name} to {copy.remote} ({human_size(copy.size)})")
        self.info(f"{verb} {len(result.copied)} backup(s); {result.present} cop(ies) already complete.")
