from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.db import DEFAULT_DB_ALIAS

from django_rclone.management import progress
from django_rclone.management.base import RcloneCommand, human_size
from django_rclone.operations.backup import backup


class Command(RcloneCommand):
    help = "Back up a database to the rclone remote (dump streamed into `rclone rcat`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-d", "--database", default=DEFAULT_DB_ALIAS, help="Database alias to back up (default: %(default)s)."
        )
        parser.add_argument(
            "-c",
            "--clean",
            action="store_true",
            help="Afterwards delete old backups of this database beyond DB_CLEANUP_KEEP.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        with progress.shown(self, f"Backing up {options['database']!r}"):
            result = backup(options["database"], clean=options["clean"], sender=type(self))
        self.info(
            f"Backed up database {result.database!r} to {result.name} "
            f"({human_size(result.size)}, {result.duration:.1f}s, sha256 {result.sha256[:12]})"
        )
        for name in result.cleaned:
            self.info(f"Deleted old backup {name}", level=2)
        if result.cleaned:
            self.info(f"Retention: deleted {len(result.cleaned)} old backup(s)")
