from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from django_rclone.management import progress
from django_rclone.management.base import RcloneCommand
from django_rclone.operations.media import media_backup


class Command(RcloneCommand):
    help = "Sync MEDIA_ROOT to the remote media folder (incremental `rclone sync`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-empty",
            action="store_true",
            help="Sync even if MEDIA_ROOT is empty or missing (empties the remote copy).",
        )
        parser.add_argument("--backup-dir", help="rclone --backup-dir: keep files the sync replaces or deletes there.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        with progress.shown(self, "Syncing media"):
            result = media_backup(
                allow_empty=options["allow_empty"], backup_dir=options["backup_dir"], sender=type(self)
            )
        if result.skipped_symlinks:
            shown = result.skipped_symlinks if self.verbosity >= 2 else result.skipped_symlinks[:5]
            more = len(result.skipped_symlinks) - len(shown)
            self.warn(
                f"skipped {len(result.skipped_symlinks)} symlink(s) in MEDIA_ROOT: {', '.join(shown)}"
                + (f" and {more} more (-v 2 lists them)" if more else "")
                + "; set DJANGO_RCLONE['MEDIA_FOLLOW_SYMLINKS'] = True to back up what they point to."
            )
        self.info(f"Synced {result.source} to {result.destination} ({result.duration:.1f}s)")
