from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_rclone.management.base import RcloneCommand, human_size
from django_rclone.operations.adopt import adopt


class Command(RcloneCommand):
    help = (
        "Write manifests for backups made elsewhere (django-rclone 0.1.0, copied by hand) after reading "
        "each once, so they become verifiable. A dry run unless --write is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-d", "--database", help="Only backups of this alias.")
        parser.add_argument("-i", "--input-path", action="append", dest="only", help="Only this backup (repeatable).")
        parser.add_argument("--write", action="store_true", help="Write the manifests (default: only report).")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        write = options["write"]
        found = adopt(options["database"], only=options["only"], write=write)
        if not found:
            self.info("No backups without a manifest: nothing to adopt.")
            return
        failed = 0
        for item in found:
            if item.problem:
                failed += 1
                self.stderr.write(f"SKIPPED {item.name}: {item.problem}")
                continue
            verb = "ADOPTED" if item.written else "WOULD ADOPT"
            self.info(
                f"{verb} {item.name} ({item.database}, {human_size(item.size)}, {item.compression}, "
                f"sha256 {item.sha256[:16]}...)"
            )
        if not write:
            self.info(
                "Dry run: nothing was written; run again with --write to commit these manifests. Adopt only "
                "files you know you made: a manifest (signed, with SIGNING_KEY) vouches for their bytes."
            )
        if failed:
            raise CommandError(f"{failed} of {len(found)} backup(s) could not be adopted (see above)")
