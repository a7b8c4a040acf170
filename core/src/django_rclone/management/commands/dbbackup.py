from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from django_rclone.exceptions import DjangoRcloneError, Interrupted
from django_rclone.management import progress
from django_rclone.management.base import RcloneCommand, human_size, scrubbed
from django_rclone.operations.backup import BackupResult, backup


def split_names(values: list[str] | None) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``: flags accept commas and repetition alike."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


class Command(RcloneCommand):
    help = "Back up databases to the rclone remote (each dump streamed into `rclone rcat`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-d",
            "--database",
            action="append",
            help=f"Database alias to back up; several as 'a,b' or repeated (default: {DEFAULT_DB_ALIAS}).",
        )
        parser.add_argument("--all", action="store_true", help="Back up every alias in DATABASES.")
        parser.add_argument(
            "-c",
            "--clean",
            action="store_true",
            help="Afterwards delete old backups of each database the retention policy does not keep.",
        )
        parser.add_argument(
            "-s", "--servername", default="", help="Value of {servername} in DB_FILENAME_TEMPLATE (default: hostname)."
        )
        parser.add_argument(
            "-o",
            "--output-filename",
            help="Exact backup name instead of DB_FILENAME_TEMPLATE (one database only; must not exist yet).",
        )
        parser.add_argument(
            "-x",
            "--exclude-tables",
            action="append",
            help="Tables to leave out of the dump, as 'a,b' or repeated (PostgreSQL and MySQL connectors).",
        )
        parser.add_argument(
            "-n",
            "--schema",
            action="append",
            help="Dump only these schemas, as 'a,b' or repeated (PostgreSQL connectors only).",
        )

    def aliases(self, options: dict[str, Any]) -> list[str]:
        """The aliases to back up, checked against DATABASES before anything runs."""
        if options["all"]:
            if options["database"]:
                raise CommandError("Give either --all or --database, not both.")
            return list(settings.DATABASES)
        aliases = list(dict.fromkeys(split_names(options["database"]) or [DEFAULT_DB_ALIAS]))
        unknown = [alias for alias in aliases if alias not in settings.DATABASES]
        if unknown:
            raise CommandError(
                f"Unknown database alias(es) {', '.join(unknown)}; "
                f"DATABASES has {', '.join(sorted(settings.DATABASES))}."
            )
        return aliases

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        aliases = self.aliases(options)
        if options["output_filename"] and len(aliases) > 1:
            raise CommandError("--output-filename names one backup; give a single --database with it.")
        connector_options: dict[str, Any] = {}
        if options["exclude_tables"]:
            connector_options["EXCLUDE"] = split_names(options["exclude_tables"])
        if options["schema"]:
            connector_options["SCHEMAS"] = split_names(options["schema"])

        def run(alias: str) -> BackupResult:
            with progress.shown(self, f"Backing up {alias!r}"):
                return backup(
                    alias,
                    clean=options["clean"],
                    servername=options["servername"],
                    output_filename=options["output_filename"],
                    connector_options=connector_options,
                    sender=type(self),
                )

        if len(aliases) == 1:
            self.report(run(aliases[0]))
            return
        failed: list[str] = []
        for alias in aliases:
            try:
                self.report(run(alias))
            except Interrupted:
                raise
            except Exception as exc:  # one alias failing must not stop the others
                if not isinstance(exc, (DjangoRcloneError, ImproperlyConfigured)):
                    exc = RuntimeError(f"{type(exc).__name__}: {exc}")
                failed.append(alias)
                self.stderr.write(self.style.ERROR(scrubbed(f"Backup of database {alias!r} failed: {exc}")))
        done = len(aliases) - len(failed)
        outcome = f"; failed: {', '.join(failed)}" if failed else "."
        self.info(f"Summary: {done} of {len(aliases)} database(s) backed up{outcome}")
        if failed:
            raise CommandError(f"{len(failed)} of {len(aliases)} database backups failed: {', '.join(failed)}")

    def report(self, result: BackupResult) -> None:
        self.info(
            f"Backed up database {result.database!r} to {result.name} "
            f"({human_size(result.size)}{_compressed(result)}, {result.duration:.1f}s, sha256 {result.sha256[:12]})"
        )
        for name in result.cleaned:
            self.info(f"Deleted old backup {name}", level=2)
        if result.cleaned:
            self.info(f"Retention: deleted {len(result.cleaned)} old backup(s)")


def _compressed(result: BackupResult) -> str:
    """`` from 120.0 MiB with zstd:1`` when the compression stage ran, else ""."""
    codec = result.manifest.compression
    if codec == "none":
        return ""
    return f" from {human_size(result.uncompressed_size)} with {codec}:{result.manifest.compression_level}"
