from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from django_rclone.api import list_backups
from django_rclone.conf import get_settings
from django_rclone.management.base import RcloneCommand, human_size
from django_rclone.operations.media import media_remote
from django_rclone.rclone import Rclone


class Command(RcloneCommand):
    help = "List database backups (or media files) on the rclone remote."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-d", "--database", help="Only backups of this database alias.")
        parser.add_argument("-m", "--media", action="store_true", help="List media files instead of database backups.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        if options["media"]:
            records = Rclone.from_settings(get_settings()).lsjson(media_remote(), recursive=True)
            for record in sorted(records, key=lambda r: r["Path"]):
                self.stdout.write(
                    f"{record['Path']}\t{human_size(int(record.get('Size', 0)))}\t{record.get('ModTime', '')}"
                )
            self.info(f"{len(records)} media file(s)", level=2)
            return
        entries = list_backups(options["database"])
        if not entries:
            self.info("No backups found.")
            return
        width = max(len(e.name) for e in entries)
        self.stdout.write(f"{'NAME':<{width}}  {'DATABASE':<12}  {'SIZE':>10}  CREATED (UTC)")
        for entry in entries:
            created = entry.timestamp.strftime("%Y-%m-%d %H:%M:%S")
            self.stdout.write(f"{entry.name:<{width}}  {entry.database:<12}  {human_size(entry.size):>10}  {created}")
