"""SQLite connectors.

``SqliteConnector`` dumps with the sqlite3 shell's ``.dump`` (portable SQL text) and restores by
piping that SQL into ``sqlite3``. The SQL goes into a scratch database beside the target first;
only when the whole stream ran without error is it copied over the target with SQLite's online
backup API, in one step. A restore therefore replaces the database exactly (no duplicate keys, no
mix of old and new rows), and a failed or interrupted restore leaves it untouched.
"""

from __future__ import annotations

import contextlib
import os
import sys

from django_rclone.db.base import CommandConnector

SPATIALITE_ENGINES = frozenset({"django.contrib.gis.db.backends.spatialite"})


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

    def _extensions(self) -> list[str]:
        if self.engine in SPATIALITE_ENGINES:
            return [str(self.option("SPATIALITE_LIBRARY_PATH", "mod_spatialite"))]
        return []

    def excluded(self) -> list[str]:
        """The ``EXCLUDE`` table names, checked (a bare string would be split into letters)."""
        from django.core.exceptions import ImproperlyConfigured

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
        helper += ["--", self._check_file()]
        return [*self.words("DUMP_PREFIX"), *helper, *self.words("DUMP_SUFFIX")]

    def dump_args(self) -> list[str]:
        args = ["-bail", "-batch", "-readonly"]
        for ext in self._extensions():
            args += ["-cmd", f".load {ext}"]
        return [*args, self._check_file(), ".dump"]

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
        helper += ["--", self._check_file()]
        return [*self.words("RESTORE_PREFIX"), *helper, *self.words("RESTORE_SUFFIX")]

    def restore_args(self) -> list[str]:
        return []

    def tool_versions(self) -> dict[str, str]:
        return {"sqlite3": self.tool_version("DUMP", self.dump_cmd, "-version")}
