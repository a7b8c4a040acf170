"""SQLite connectors.

``SqliteConnector`` dumps with the sqlite3 shell's ``.dump`` (portable SQL text) and restores by
piping that SQL into ``sqlite3``. The SQL goes into a scratch database beside the target first;
only when the whole stream ran without error is it copied over the target with SQLite's online
backup API, in one step. A restore therefore replaces the database exactly (no duplicate keys, no
mix of old and new rows), and a failed or interrupted restore leaves it untouched.

A backup is untrusted input. The sqlite3 shell runs dot-commands (``.shell``, ``.system``,
``.trace FILE``...) found at the start of a line, and SQL such as ``ATTACH`` or ``writefile()`` can
write files. A restore therefore runs the shell with ``-safe`` (after loading SpatiaLite, which
``-safe`` would refuse), and ``DotCommandGuard`` refuses any line of the stream that starts with
``.`` before the shell sees it: ``.dump`` never writes one (it escapes newlines in strings), and
``-safe`` in sqlite3 3.40 still lets ``.trace FILE`` write a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_rclone.db.base import BaseConnector, CommandConnector, DrillNotSupported, RestoreGuard
from django_rclone.exceptions import IncompleteDump, UnsafeBackup
from django_rclone.sample import StreamSample

#: SQL that writes, as one line, a query returning ``{"table": rows}`` for every ordinary table
#: (virtual tables, whose rows live elsewhere or come from a module, and SQLite's own ``sqlite_*``
#: tables are left out). Read back with the shell's ``.read`` in the same transaction.
COUNT_QUERY_SQL = (
    "SELECT 'SELECT json_group_object(t, n) FROM (' || group_concat('SELECT ' || quote(name) || "
    "' AS t, count(*) AS n FROM \"' || replace(name, '\"', '\"\"') || '\"', ' UNION ALL ') || ');' "
    "FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
    "AND sql NOT LIKE 'CREATE VIRTUAL %'"
)


def _dot_path(path: str) -> str:
    """A path as one argument of a sqlite3 shell dot-command."""
    if '"' in path or "\\" in path or "\n" in path:
        raise DrillNotSupported(f"cannot pass the path {path!r} to the sqlite3 shell")
    return f'"{path}"'


def count_commands(query_file: str, output: str | None) -> list[str]:
    """Shell commands (after ``BEGIN``) that count every table's rows into ``output`` as JSON
    (``None``: stdout), writing the generated query to ``query_file`` first."""
    return [
        ".headers off",
        ".mode list",
        f".output {_dot_path(query_file)}",
        COUNT_QUERY_SQL,
        ".output" + (f" {_dot_path(output)}" if output else ""),
        f".read {_dot_path(query_file)}",
        ".output",
    ]


def parse_counts(text: str) -> dict[str, int]:
    """The JSON the count query printed (nothing at all for a database without tables)."""
    text = text.strip()
    data = json.loads(text) if text else {}
    if not isinstance(data, dict):
        raise ValueError(f"unexpected table counts {text[:80]!r}")
    return {str(k): int(v) for k, v in data.items()}


SPATIALITE_ENGINES = frozenset({"django.contrib.gis.db.backends.spatialite"})
#: Default of the ``BUSY_TIMEOUT`` option: seconds a dump waits for another connection's lock.
DEFAULT_BUSY_TIMEOUT = 30.0
#: What the sqlite3 shell writes into a ``.dump`` (not to stderr, and with exit status 0) when a
#: query fails, e.g. ``/**** ERROR: (5) database is locked *****/``.
_DUMP_ERROR = re.compile(rb"/\*{4} ERROR: (.*?) \*{5}/")


_DOT_LINE = re.compile(rb"\n[ \t]*\.")
_LEADING_DOT = re.compile(rb"[ \t]*\.")


class DotCommandGuard(RestoreGuard):
    """Stops a restore at the first line that starts with ``.`` (after spaces or tabs, to be safe
    with any sqlite3 version): a sqlite3 shell dot-command, which ``.dump`` never writes."""

    def __init__(self) -> None:
        self._offset = 0
        self._line_start = True  # only spaces or tabs since the last newline

    def feed(self, chunk: memoryview) -> memoryview:
        data = bytes(chunk)
        if self._line_start and _LEADING_DOT.match(data):
            self._refuse(data, 0)
        found = _DOT_LINE.search(data)  # one pass over the chunk
        if found is not None:
            self._refuse(data, found.start() + 1)
        rest = data.rstrip(b" \t")
        self._line_start = rest.endswith(b"\n") or (not rest and self._line_start)
        self._offset += len(data)
        return chunk

    def _refuse(self, data: bytes, at: int) -> None:
        line = data[at : at + 60].split(b"\n", 1)[0].strip().decode(errors="replace")
        raise UnsafeBackup(
            f"the backup holds a sqlite3 shell command at byte {self._offset + at} ({line!r}); a .dump never "
            "writes one, so the backup was altered. The restore was stopped before sqlite3 received it; "
            "nothing was changed"
        )


class SqliteConnector(CommandConnector):
    """``sqlite3 -readonly NAME .dump`` for backups; SQL piped into ``sqlite3`` for restores.

    ``EXCLUDE`` (table names) leaves tables out: the dump is then made from a private snapshot with
    those tables dropped (``django_rclone_sqlite.exclusion``), and a restore carries them over from
    the live database unchanged (rows, schema, indexes, triggers, AUTOINCREMENT counter). Rows
    written to an excluded table while the restore's final copy runs may be lost, as any write
    during a restore.
    """

    extension = "sqlite3"
    run_options = frozenset({"EXCLUDE"})
    known_options = frozenset({"SPATIALITE_LIBRARY_PATH"})
    dump_cmd = "sqlite3"
    restore_cmd = "sqlite3"
    install_hint = "the sqlite3 command-line shell, e.g. `apt-get install sqlite3`"

    def _check_file(self) -> str:
        name = self.name
        if not name or name == ":memory:" or name.startswith("file::memory:"):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"Database {self.database!r} is an in-memory SQLite database; only file databases can be backed up."
            )
        return name

    def database_exists(self) -> bool | None:
        """Whether the database file exists (``None`` for in-memory and URI names)."""
        name = self.name
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        return os.path.isfile(name)

    def estimated_size(self) -> int | None:
        """The database file's size plus its write-ahead log, if any."""
        name = self.name
        if not name or name == ":memory:" or name.startswith("file:"):
            return None
        try:
            size = os.path.getsize(name)
        except OSError:
            return None
        with contextlib.suppress(OSError):
            size += os.path.getsize(name + "-wal")
        return size

    def busy_timeout(self) -> float:
        """``BUSY_TIMEOUT`` in seconds (default 30): how long a dump waits while another connection
        holds a lock that keeps it from reading, before the backup fails."""
        seconds = self.seconds("BUSY_TIMEOUT", DEFAULT_BUSY_TIMEOUT, zero_ok=True)
        return DEFAULT_BUSY_TIMEOUT if seconds is None else seconds

    def _extensions(self) -> list[str]:
        if self.engine in SPATIALITE_ENGINES:
            return [str(self.option("SPATIALITE_LIBRARY_PATH", "mod_spatialite"))]
        return []

    def excluded(self) -> list[str]:
        """The ``EXCLUDE`` table names, checked (a bare string would be split into letters)."""

        value = self.option("EXCLUDE") or []
        if isinstance(value, str) or not all(isinstance(name, str) and name for name in value):
            raise ImproperlyConfigured(
                f"Connector option EXCLUDE for database {self.database!r} must be a list of table names."
            )
        internal = [name for name in value if name.lower().startswith("sqlite_")]
        if internal:
            raise ImproperlyConfigured(
                f"Connector option EXCLUDE for database {self.database!r} names SQLite's own tables {internal}; "
                "they belong to the database file and cannot be left out."
            )
        return list(value)

    def dump_argv(self) -> list[str]:
        exclude = self.excluded()
        if not exclude:
            return super().dump_argv()
        # The helper snapshots the file, drops the excluded tables from the snapshot and runs
        # DUMP_CMD (sqlite3) .dump on it; PREFIX/SUFFIX wrap the helper.
        helper = [
            sys.executable,
            "-m",
            "django_rclone_sqlite.exclusion",
            "--sqlite3",
            str(self.option("DUMP_CMD") or "sqlite3"),
        ]
        for ext in self._extensions():
            helper += ["--load", ext]
        for table in exclude:
            helper += ["--exclude", table]
        helper += ["--busy-timeout", f"{self.busy_timeout():g}", "--", self._check_file()]
        return [*self.words("DUMP_PREFIX"), *helper, *self.words("DUMP_SUFFIX")]

    #: Private folder of the current dump's table counts (see ``dump_args``; none with ``EXCLUDE``, whose helper
    #: dumps a private copy of the file).
    _count_dir: str = ""

    def dump_args(self) -> list[str]:
        # .timeout: wait for a writer's lock instead of writing "database is locked" into the dump.
        # .dump and the row counts run in one read transaction (BEGIN ... COMMIT): one snapshot.
        args = ["-bail", "-batch", "-readonly", "-cmd", f".timeout {round(self.busy_timeout() * 1000)}"]
        for ext in self._extensions():
            args += ["-cmd", f".load {ext}"]
        query = self.secret_file("count.sql", "")
        self._count_dir = os.path.dirname(query)
        counts = os.path.join(self._count_dir, "counts.json")
        return [
            *args,
            self._check_file(),
            "BEGIN",
            ".output",
            ".dump",
            *count_commands(query, counts),
            "COMMIT",
        ]

    def dump_finished(self) -> dict[str, Any]:
        """The table counts taken with the dump, as ``metadata["table_counts"]``."""
        if not self._count_dir:
            return {}
        with open(os.path.join(self._count_dir, "counts.json"), encoding="utf-8") as handle:
            return {self.TABLE_COUNTS: parse_counts(handle.read())}

    # -- restore drills ----------------------------------------------------------------------------
    def drill_target(self) -> BaseConnector:
        """A new file in a new private temporary folder (``django-rclone-drill-*``)."""
        folder = os.path.join(tempfile.gettempdir(), f"django-rclone-drill-{secrets.token_hex(8)}")
        return self.scratch_copy(NAME=os.path.join(folder, "drill.sqlite3"))

    def create_scratch(self) -> None:
        os.mkdir(os.path.dirname(self._check_file()), 0o700)

    def drop_scratch(self) -> None:
        folder = os.path.dirname(self._check_file())
        if os.path.basename(folder).startswith("django-rclone-drill-"):
            shutil.rmtree(folder, ignore_errors=True)

    def table_counts(self) -> dict[str, int]:
        query = self.secret_file("count.sql", "")
        argv = [str(self.option("RESTORE_CMD") or self.restore_cmd), "-bail", "-batch", "-readonly"]
        for ext in self._extensions():
            argv += ["-cmd", f".load {ext}"]
        argv += [self._check_file(), "BEGIN", *count_commands(query, None), "COMMIT"]
        done = subprocess.run(
            argv, env=self.environment("RESTORE"), stdin=subprocess.DEVNULL, capture_output=True, check=False
        )
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip()
            raise DrillNotSupported(f"counting the rows of the restored SQLite database failed: {detail}")
        return parse_counts(done.stdout.decode())

    def restore_argv(self) -> list[str]:
        # The helper runs RESTORE_CMD (sqlite3) itself; PREFIX/SUFFIX wrap the helper.
        helper = [
            sys.executable,
            "-m",
            "django_rclone_sqlite.swap",
            "--sqlite3",
            str(self.option("RESTORE_CMD") or "sqlite3"),
        ]
        for ext in self._extensions():
            helper += ["--load", ext]
        for table in self.excluded():
            helper += ["--keep", table]
        if self.restore_sandboxed():
            helper.append("--safe")
        helper += ["--", self._check_file()]
        return [*self.words("RESTORE_PREFIX"), *helper, *self.words("RESTORE_SUFFIX")]

    def restore_args(self) -> list[str]:
        return []

    def check_dump(self, sample: StreamSample) -> None:
        """A ``.dump`` ends with ``COMMIT;``; the shell writes ``ROLLBACK; -- due to errors`` instead
        (and exits 0) when a query failed, for instance on a database locked past ``BUSY_TIMEOUT``."""
        complete = sample.tail.rstrip().rpartition(b"\n")[2] == b"COMMIT;"  # a line of its own
        stderr = [
            line.strip()
            for line in sample.stderr.splitlines()
            if line.lower().lstrip().startswith(("error", "parse error", "runtime error")) or "locked" in line.lower()
        ]
        if complete and not stderr:
            return
        # The error markers only explain a failed dump: the same text inside a row is just data.
        markers = [m.group(1).decode(errors="replace") for m in _DUMP_ERROR.finditer(sample.head + sample.tail)]
        detail = (markers or stderr or [""])[0]
        if detail:
            hint = ""
            if "locked" in detail or "busy" in detail:
                hint = (
                    f"; another connection held a lock on the database for longer than BUSY_TIMEOUT "
                    f"({self.busy_timeout():g} s)"
                )
            raise IncompleteDump(f"sqlite3 reported an error in the dump: {detail}{hint}")
        self.require_tail(sample, b"COMMIT;", "the dump's final COMMIT;")

    def restore_sandboxed(self) -> bool:
        """``True`` when the restore's sqlite3 has ``-safe`` (3.37 and later)."""
        return self.tool_help_mentions("RESTORE", self.restore_cmd, "-safe", "-help")

    def restore_guard(self) -> RestoreGuard | None:
        return DotCommandGuard()

    def tool_versions(self) -> dict[str, str]:
        return {"sqlite3": self.tool_version("DUMP", self.dump_cmd, "-version")}
