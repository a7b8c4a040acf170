from __future__ import annotations

import argparse
import math
from typing import Any

from django.core.management.base import CommandError, CommandParser

from django_rclone.db.base import database_settings
from django_rclone.management import progress
from django_rclone.management.base import RcloneCommand, human_size, scrubbed
from django_rclone.operations import verify
from django_rclone.operations.verify import VerifyResult, verify_backup, verify_latest


def _percent(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage above 0 and at most 100; got {value!r}")
    return number


def _hours(text: str) -> float:
    """``--max-age``: a finite number of hours above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours above 0")
    return value


class Command(RcloneCommand):
    help = (
        "Check backups without restoring: stream each one through SHA-256 and compare with its manifest. "
        "Exits non-zero when any check fails (for monitoring)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-d", "--database", help="Only the newest backup of this alias (default: every alias).")
        parser.add_argument("-i", "--input-path", help="Verify this backup (name as listbackups prints it).")
        parser.add_argument(
            "--max-age", type=_hours, metavar="HOURS", help="Also fail when the newest backup is older than this."
        )
        parser.add_argument(
            "--sample",
            type=_percent,
            metavar="PERCENT",
            help="Also re-read this share of all backups, rotating daily so that every backup is re-read "
            "within 100/PERCENT days (see docs/operations.md).",
        )
        parser.add_argument(
            "--decode",
            action="store_true",
            help="Also decompress each backup and check its uncompressed size (reads as much, costs CPU).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        sample = options["sample"]
        if options["input_path"] is not None and sample is not None:
            raise CommandError("--sample picks backups itself; give it without --input-path.")
        with progress.shown(self, "Verifying"):
            results = self.verify(options)
        if sample is not None:
            period = verify.sample_period(sample)
            self.info(
                f"Sample: {sample:g}% rotation, every backup re-read within {period} day(s) of daily runs", level=2
            )
        if not results:
            raise CommandError("No backups found to verify.")
        failed = [r for r in results if not r.ok]
        for result in results:
            if result.ok:
                decoded = (
                    "" if result.uncompressed_size is None else f", {human_size(result.uncompressed_size)} decoded"
                )
                self.info(
                    f"OK      {result.name} ({human_size(result.size)}{decoded}, sha256 {result.sha256[:12]}, "
                    f"{result.age_hours:.1f} h old)"
                )
            else:
                self.stderr.write(scrubbed(f"FAILED  {result.name or result.database}: {result.problem}"))
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} backup(s) failed verification.")

    def verify(self, options: dict[str, Any]) -> list[VerifyResult]:
        if options["database"] is not None:
            database_settings(options["database"])  # an unknown alias: one line naming the known ones
        if options["input_path"] is not None:
            return [verify_backup(options["input_path"], options["max_age"], decode=options["decode"])]
        if options["sample"] is not None:
            return verify.verify_sample(
                options["sample"], options["database"], options["max_age"], decode=options["decode"]
            )
        return verify_latest(options["database"], options["max_age"], decode=options["decode"])
