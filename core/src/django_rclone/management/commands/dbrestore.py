from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from django_rclone.conf import get_settings
from django_rclone.management import progress
from django_rclone.management.base import RcloneCommand, human_size
from django_rclone.operations.restore import prepare, restore


class Command(RcloneCommand):
    help = "Restore a database from the rclone remote (`rclone cat` streamed into the restore tool)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-d", "--database", default=DEFAULT_DB_ALIAS, help="Database alias to restore (default: %(default)s)."
        )
        parser.add_argument(
            "-i", "--input-path", help="Backup name to restore, as listbackups prints it (default: the newest)."
        )
        parser.add_argument("--noinput", "--no-input", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--skip-verify",
            action="store_true",
            help="Emergency only: restore even if size or checksum differ from the backup's manifest.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Restore a backup made by another engine or connector than the target alias uses.",
        )
        parser.add_argument(
            "--allow-unsigned",
            action="store_true",
            help="With SIGNING_KEY set: restore a backup whose manifest is unsigned or badly signed anyway.",
        )
        parser.add_argument(
            "-r",
            "--no-drop",
            action="store_true",
            help="Do not drop existing objects first; restore into a database without them (PostgreSQL).",
        )
        parser.add_argument(
            "--no-undo-backup",
            action="store_true",
            help="Do not back up the current database first (by default a pre-restore backup is taken, "
            "and the command that restores it is printed).",
        )
        parser.add_argument(
            "--from",
            dest="source",
            metavar="REMOTE",
            help="Read the backup from this remote only: REMOTE or one in COPIES "
            "(default: REMOTE, falling back to each copy in turn).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        database = options["database"]
        name, notes = prepare(
            database,
            options["input_path"],
            force=options["force"],
            verify=not options["skip_verify"],
            sender=type(self),
            allow_unsigned=options["allow_unsigned"],
            source=options["source"],
        )
        question = f"Restore database {database!r} from {name}?"
        for note in notes:
            question += f" Note: {note}."
        question += " Its current contents will be replaced"
        question += "." if options["no_undo_backup"] else " (a pre-restore undo backup of them is taken first)."
        if not self.confirm(question, options["noinput"]):
            raise CommandError("Restore cancelled.")
        with progress.shown(self, f"Restoring {database!r}"):
            result = restore(
                database,
                input_path=name,
                verify=not options["skip_verify"],
                sender=type(self),
                force=options["force"],
                connector_options={"DROP": False} if options["no_drop"] else None,
                allow_unsigned=options["allow_unsigned"],
                undo_backup=not options["no_undo_backup"],
                source=options["source"],
            )
        for warning in result.warnings:
            self.warn(warning)
        check = "verified" if result.verified else "not verified"
        where = f" on {result.remote}" if get_settings().copies else ""  # which remote, when there is a choice
        summary = (
            f"Restored database {result.database!r} from {result.name}{where} "
            f"({human_size(result.size)}, {result.duration:.1f}s, checksum {check})"
        )
        if result.undo_command:  # on the same line: cron mails and logs keep one line per run
            summary += f"; to undo it: {result.undo_command}"
        self.info(summary)
