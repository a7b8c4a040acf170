from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, CommandParser

from django_rclone import names
from django_rclone.conf import get_settings
from django_rclone.exceptions import BackupNotFound, DjangoRcloneError, DrillFailed, Interrupted
from django_rclone.management.base import RcloneCommand
from django_rclone.operations.drill import drill, support_problem
from django_rclone.operations.restore import select


class Command(RcloneCommand):
    help = (
        "Restore drill: restore the newest backup of each alias into a scratch database on the same server, "
        "check every table and its row count against what the backup recorded, drop the scratch database. "
        "Never touches the live database. Exits non-zero when any drill fails (for monitoring)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-d",
            "--database",
            action="append",
            help="Drill this alias (repeatable; default: every alias in DATABASES whose connector can drill).",
        )
        parser.add_argument(
            "-i", "--input-path", help="Drill this backup (name as listbackups prints it) instead of the newest."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        explicit = bool(options["database"])
        aliases: list[str] = list(options["database"] or [])
        if options["input_path"]:
            if len(aliases) > 1:
                raise CommandError("-i names one backup: give at most one -d with it.")
            if not aliases:
                parsed = names.parse(get_settings(), names.check_name(options["input_path"]))
                if parsed is None:
                    raise CommandError(f"Cannot tell which alias {options['input_path']} belongs to; pass -d ALIAS.")
                aliases = [parsed.database]
            explicit = True
        if not aliases:
            aliases = list(settings.DATABASES)
        failed, passed = [], 0
        for alias in aliases:
            try:
                problem = support_problem(alias)
            except (DjangoRcloneError, ImproperlyConfigured) as exc:  # unknown alias, no connector
                self.stderr.write(f"FAILED  {alias}: {exc}")
                failed.append(alias)
                continue
            if problem is not None:
                if explicit:
                    self.stderr.write(f"FAILED  {alias}: restore drills are {problem}")
                    failed.append(alias)
                else:
                    self.info(f"SKIPPED {alias}: restore drills are {problem}")
                continue
            if not explicit:
                try:  # an alias without backups is skipped, not drilled (no failure signal or ping)
                    select(alias)
                except BackupNotFound as exc:
                    self.info(f"SKIPPED {alias}: {exc}")
                    continue
            try:
                result = drill(alias, input_path=options["input_path"], sender=type(self))
            except Interrupted:
                raise
            except BackupNotFound as exc:
                if explicit:
                    self.stderr.write(f"FAILED  {alias}: {exc}")
                    failed.append(alias)
                else:
                    self.info(f"SKIPPED {alias}: {exc}")
                continue
            except DrillFailed as exc:
                self.stderr.write(f"FAILED  {alias}: {exc}")
                failed.append(alias)
                continue
            except DjangoRcloneError as exc:
                self.stderr.write(f"FAILED  {alias}: the drill could not run: {exc}")
                failed.append(alias)
                continue
            passed += 1
            self.info(
                f"OK      {alias}: {result.name} restored into a scratch database and dropped; "
                f"{result.tables} tables, {result.rows} rows as recorded ({result.duration:.1f}s)"
            )
            for warning in result.warnings:
                self.warn(warning)
        if failed:
            raise CommandError(f"{len(failed)} restore drill(s) failed: {', '.join(failed)}.")
        if not passed:
            raise CommandError("No restore drill ran: no alias with backups has a connector that can drill.")
