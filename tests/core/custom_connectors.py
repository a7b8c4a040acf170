"""Connectors written the way users write them (BaseConnector subclasses named by dotted path)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from django_rclone.db.base import BaseConnector, CommandConnector, Phase
from django_rclone.db.compat import BaseCommandDBConnector


class CatFileConnector(BaseConnector):
    """Like the documented Oracle example: builds its own Popen. Backs up the database file as-is."""

    @property
    def extension(self) -> str:
        return "raw"

    def dump(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["cat", self.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def restore(self, stdin: IO[bytes] | int | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["tee", self.name], stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class NotAConnector:
    pass


class SnapshotsStyleSqlite:
    """A django-snapshots-style connector: plain methods on file paths, no base class."""

    extension = "sql"

    def dump(self, db_alias: str, dest: Path) -> dict[str, Any]:
        from django.db import connections

        source = sqlite3.connect(connections.databases[db_alias]["NAME"])
        try:
            with open(dest, "w", encoding="utf-8") as out:
                for line in source.iterdump():
                    out.write(line + "\n")
        finally:
            source.close()
        return {"format": "sql", "by": "snapshots-style"}

    def restore(self, db_alias: str, src: Path) -> None:
        from django.db import connections

        script = Path(src).read_text(encoding="utf-8")
        target = sqlite3.connect(connections.databases[db_alias]["NAME"])
        try:
            tables = [r[0] for r in target.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            target.execute("PRAGMA foreign_keys=OFF")
            for table in tables:
                if not table.startswith("sqlite_"):
                    target.execute(f'DROP TABLE "{table}"')
            target.executescript(script)
        finally:
            target.close()


class FailingSnapshots:
    def dump(self, db_alias: str, dest: Path) -> dict[str, Any]:
        raise RuntimeError("expdp: ORA-39002 invalid operation")

    def restore(self, db_alias: str, src: Path) -> None:
        raise RuntimeError("impdp: ORA-39001 invalid argument value")


class DbbackupStyleSqlite(BaseCommandDBConnector):
    """A custom connector written for django-dbbackup: ``_create_dump`` returns a file,
    ``_restore_dump`` reads one; only the import line changed (was ``dbbackup.db.base``)."""

    extension = "sqldump"

    def _create_dump(self) -> IO[bytes]:
        name = self.settings["NAME"]
        stdout, _ = self.run_command(f"{self.dump_prefix} sqlite3 -bail -readonly {name} .dump {self.dump_suffix}")
        return stdout

    def _restore_dump(self, dump: IO[bytes]) -> None:
        from django.db import connections

        name = self.settings["NAME"]
        connections[self.database_name].close()
        Path(name).unlink()
        self.run_command(f"sqlite3 -bail {name}", stdin=dump)


class FailingDbbackupStyle(BaseCommandDBConnector):
    def _create_dump(self) -> IO[bytes]:
        stdout, _ = self.run_command("sh -c 'echo ORA-00942 table missing >&2; exit 4'")
        return stdout

    def _restore_dump(self, dump: IO[bytes]) -> None:
        raise AssertionError("not reached")


class HelperConnector(CommandConnector):
    """Runs a ``python -c`` helper that fails, and labels it with the tool the user knows."""

    dump_cmd = sys.executable
    restore_cmd = sys.executable
    label = "acme-dump"

    def dump_args(self) -> list[str]:
        return ["-c", "import sys; sys.stderr.write('acme: no licence'); sys.exit(3)"]

    def restore_args(self) -> list[str]:
        return ["-c", "import sys; sys.stdin.buffer.read(); sys.stderr.write('acme: refused'); sys.exit(4)"]

    def tool_label(self, phase: Phase) -> str:
        return self.label if phase == "DUMP" else "acme-restore"


class UnlabelledHelperConnector(HelperConnector):
    def tool_label(self, phase: Phase) -> str:
        return ""
