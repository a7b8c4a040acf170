from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_rclone.management import progress
from django_rclone.management.base import RcloneCommand
from django_rclone.operations.media import media_remote, media_restore, media_root


class Command(RcloneCommand):
    help = "Sync the remote media folder back into MEDIA_ROOT (`rclone sync`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--noinput", "--no-input", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--allow-empty", action="store_true", help="Restore even if the remote copy is empty (empties MEDIA_ROOT)."
        )
        parser.add_argument(
            "--backup-dir", help="rclone --backup-dir: keep local files the sync replaces or deletes there."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        question = f"Make {media_root()} match {media_remote()}? Local files not on the remote will be deleted."
        if not self.confirm(question, options["noinput"]):
            raise CommandError("Media restore cancelled.")
        with progress.shown(self, "Restoring media"):
            result = media_restore(
                allow_empty=options["allow_empty"], backup_dir=options["backup_dir"], sender=type(self)
            )
        self.info(f"Synced {result.source} to {result.destination} ({result.duration:.1f}s)")
