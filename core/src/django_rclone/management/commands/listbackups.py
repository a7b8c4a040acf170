"""``listbackups``: database backups (or media files) on the remote, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timezone
from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_rclone.api import list_backups
from django_rclone.catalog import BackupEntry
from django_rclone.conf import get_settings
from django_rclone.db.base import database_settings
from django_rclone.management.base import RcloneCommand, human_size
from django_rclone.operations.media import media_remote
from django_rclone.rclone import Rclone


def human_age(seconds: float) -> str:
    """``45s``, ``12m``, ``3h 05m``, ``2d 04h``: the two largest units, for the table's AGE column."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


_RCLONE_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def rclone_time(value: str) -> datetime | None:
    """An rclone ``ModTime`` (RFC 3339 in the local offset, nanoseconds) as an aware UTC datetime;
    ``None`` when it cannot be read. Fractions beyond microseconds are dropped."""
    match = _RCLONE_TIME.match(value.strip())
    if match is None:
        return None
    base, fraction, offset = match.groups()
    try:
        moment = datetime.fromisoformat(base + ("+00:00" if offset == "Z" else offset))
    except ValueError:
        return None
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return moment.replace(microsecond=micro).astimezone(timezone.utc)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of backups, 1 or more; got {value!r}")
    return number


class Command(RcloneCommand):
    help = (
        "List database backups (or media files) on the rclone remote, newest first; backups without a usable "
        "manifest are marked UNVERIFIED."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-d", "--database", help="Only backups of this database alias.")
        parser.add_argument("-m", "--media", action="store_true", help="List media files instead of database backups.")
        parser.add_argument(
            "-n", "--limit", type=_positive, metavar="N", help="Only the newest N backups (after --database)."
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print a JSON array with stable keys (see docs/commands.md) instead of a table.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        if options["media"]:
            if options["database"] or options["limit"]:
                raise CommandError("--database and --limit apply to database backups, not to --media.")
            self._media(options["json"])
            return
        if options["database"] is not None:
            database_settings(options["database"])  # an unknown alias: one line naming the known ones
        problems: list[str] = []
        entries = list_backups(options["database"], limit=options["limit"], with_manifests=True, problems=problems)
        for problem in problems:
            self.warn(problem)
        if options["json"]:
            keys = get_settings().signing_keys
            self.stdout.write(json.dumps([entry.to_dict(keys) for entry in entries], indent=2))
            return
        if not entries:
            self.info("No backups found.")
            return
        self._table(entries)

    def _table(self, entries: list[BackupEntry]) -> None:
        now = datetime.now(timezone.utc)
        width = max(len("NAME"), *(len(e.name) for e in entries))
        db_width = max(len("DATABASE"), *(len(e.database) for e in entries))
        remotes = bool(get_settings().copies)  # the REMOTES column only where copies exist
        kind_width = max(len("KIND"), *(len(e.kind or "?") for e in entries)) if remotes else 0
        head = (
            f"{'NAME':<{width}}  {'DATABASE':<{db_width}}  {'SIZE':>10}  {'CODEC':<5}  {'RATIO':>6}  "
            f"{'CREATED (UTC)':<19}  {'AGE':<7}  "
        )
        self.stdout.write(f"{head}{'KIND':<{kind_width}}  REMOTES" if remotes else f"{head}KIND")
        for entry in entries:
            created = entry.timestamp.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            age = human_age((now - entry.timestamp).total_seconds())
            note = "" if entry.verified else f"  UNVERIFIED ({entry.to_dict()['problem']})"
            ratio = entry.compression_ratio
            shown = f"{ratio:.1f}x" if ratio is not None else "-"
            line = (
                f"{entry.name:<{width}}  {entry.database:<{db_width}}  {human_size(entry.size):>10}  "
                f"{entry.compression:<5}  {shown:>6}  {created}  {age:<7}  {entry.kind or '?':<{kind_width}}"
            )
            self.stdout.write((f"{line}  {', '.join(entry.remotes)}" if remotes else line.rstrip()) + note)
        total = sum(e.size for e in entries)
        self.info(f"{len(entries)} backup(s), {human_size(total)}", level=2)

    def _media(self, as_json: bool) -> None:
        records = Rclone.from_settings(get_settings()).lsjson(media_remote(), recursive=True)
        files = sorted(
            (
                (str(r["Path"]), int(r.get("Size", 0)), rclone_time(str(r.get("ModTime", ""))))
                for r in records
                if not r.get("IsDir")
            ),
            key=lambda f: f[0],
        )
        if as_json:
            rows = [
                {"path": path, "size": size, "modified": when.isoformat(timespec="seconds") if when else None}
                for path, size, when in files
            ]
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not files:
            self.info("No media files found.")
            return
        now = datetime.now(timezone.utc)
        width = max(len("PATH"), *(len(path) for path, _, _ in files))
        self.stdout.write(f"{'PATH':<{width}}  {'SIZE':>10}  {'MODIFIED (UTC)':<19}  AGE")
        for path, size, when in files:
            modified = when.strftime("%Y-%m-%d %H:%M:%S") if when else "?"
            age = human_age((now - when).total_seconds()) if when else "?"
            self.stdout.write(f"{path:<{width}}  {human_size(size):>10}  {modified:<19}  {age}")
        self.info(f"{len(files)} media file(s), {human_size(sum(size for _, size, _ in files))}", level=2)
