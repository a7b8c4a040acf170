"""Connectors written the way users write them (BaseConnector subclasses named by dotted path)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from django_rclone.db.base import BaseConnector, CommandConnector, Phase
from django_rclone.db.compat import BaseCommandDBConnector
from django_rclone.exceptions import IncompleteDump
from django_rclone.sample import StreamSample


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


#: Reads its whole stdin first (as a tool reading a parameter file from stdin would), then writes
#: 300,000 bytes ending in "-- END\n" to stdout and 1 MB of chatter to stderr.
CHATTY_DUMP = """
import sys
sys.stdin.buffer.read()
sys.stderr.write("progress: " + "." * (1 << 20) + "\\n")
sys.stdout.buffer.write(b"row\\n" * 75000 + b"-- END\\n")
"""

#: Saves stdin to argv[1], writing 1 MB to stdout and 1 MB to stderr before it reads the stream (a
#: tool that prints a log), and only then reading to end of input.
CHATTY_RESTORE = """
import sys
sys.stdout.write("imported " + "." * (1 << 20) + "\\n")
sys.stdout.flush()
sys.stderr.write("log " + "." * (1 << 20) + "\\n")
sys.stderr.flush()
data = sys.stdin.buffer.read()
with open(sys.argv[1], "wb") as out:
    out.write(data)
"""


class ChattyConnector(BaseConnector):
    """Written like the 0.1.0 custom-connector example: every pipe of both processes is a PIPE.

    The dump has ``stdin=PIPE`` and reads it to EOF before writing; the restore has ``stdout=PIPE``
    and writes 1 MB there. Option ``OUT``: where the restore saves what it received.
    """

    extension = "chatty"

    def dump(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", CHATTY_DUMP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def restore(self, stdin: IO[bytes] | int | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", CHATTY_RESTORE, str(self.option("OUT"))],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )


class TrailerConnector(ChattyConnector):
    """A third-party connector with its own completeness check: the dump must end with ``-- END``.

    Option ``DROP_TRAILER``: the dump leaves its trailer out (and still exits 0). Each sample the
    check saw is kept in ``SAMPLES`` for the test to inspect.
    """

    SAMPLES: list[StreamSample] = []

    def dump(self) -> subprocess.Popen[bytes]:
        script = CHATTY_DUMP.replace('b"-- END\\n"', 'b""') if self.option("DROP_TRAILER") else CHATTY_DUMP
        return subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def check_dump(self, sample: StreamSample) -> None:
        self.SAMPLES.append(sample)
        if not sample.tail.endswith(b"-- END\n"):
            raise IncompleteDump("its output has no '-- END' trailer")
