from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_rclone.management.base import RcloneCommand, human_size
from django_rclone.operations.verify import verify_backup, verify_latest


class Command(RcloneCommand):
    help = (
        "Check backups without restoring: stream each one through SHA-256 and compare with its manifest. "
        "Exits non-zero when any check fails (for monitoring)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-d", "--database", help="Only the newest backup of this alias (default: every alias).")
        parser.add_argument("-i", "--input-path", help="Verify this backup (name as listbackups prints it).")
        parser.add_argument(
            "--max-age", type=float, metavar="HOURS", help="Also fail when the newest backup is older than this."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        if options["input_path"]:
            results = [verify_backup(options["input_path"], options["max_age"])]
        else:
            results = verify_latest(options["database"], options["max_age"])
        if not results:
            raise CommandError("No backups found to verify.")
        failed = [r for r in results if not r.ok]
        for result in results:
            if result.ok:
                self.info(
                    f"OK      {result.name} ({human_size(result.size)}, sha256 {result.sha256[:12]}, "
                    f"{result.age_hours:.1f} h old)"
                )
            else:
                self.stderr.write(f"FAILED  {result.name or result.database}: {result.problem}")
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} backup(s) failed verification.")
