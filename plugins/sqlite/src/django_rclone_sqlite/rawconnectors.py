"""SQLite connectors that back up the database file itself rather than SQL text.

Neither is the default for any engine; pick one per alias with
``DJANGO_RCLONE["CONNECTORS"][alias] = "django_rclone_sqlite.rawconnectors.SqliteBackupConnector"``. Both run
the helper ``python -m django_rclone_sqlite.rawfile`` (see that module), so they need no sqlite3
binary, and their backups (extension ``db``) are plain SQLite files either one can restore.
"""

from __future__ import annotations

import sqlite3
import sys

from django_rclone.db.base import BaseConnector, Phase, RestoreGuard
from django_rclone.exceptions import IncompleteDump
from django_rclone.sample import StreamSample
from django_rclone_sqlite.connectors import SqliteConnector
from django_rclone_sqlite.rawfile import HEADER, expected_size


class _RawFileConnector(SqliteConnector):
    """Shared argv building: ``PREFIX + python -m django_rclone_sqlite.rawfile ACTION NAME + SUFFIX``."""

    extension = "db"
    run_options = frozenset()
    unsupported_options = {
        "EXCLUDE": (
            "a file backup is the whole database file, so tables cannot be left out; "
            "use django_rclone_sqlite.connectors.SqliteConnector (SQL .dump), which supports EXCLUDE"
        ),
    }
    # The helper runs under this interpreter; DUMP_CMD/RESTORE_CMD may name another Python.
    dump_cmd = sys.executable
    restore_cmd = sys.executable
    install_hint = "a Python interpreter with the sqlite3 module"
    #: Either raw-file connector restores the other's backups (both are plain SQLite files), so
    #: ``dbrestore``'s connector check accepts them without ``--force``.
    reads_backups_of = frozenset(
        {
            "django_rclone_sqlite.rawconnectors.SqliteBackupConnector",
            "django_rclone_sqlite.rawconnectors.SqliteCPConnector",
        }
    )
    #: No restore drills (yet): the file copies record no table counts.
    drill_target = BaseConnector.drill_target
    #: Helper actions for this connector's dump and restore.
    dump_action = ""
    restore_action = ""

    def _helper(self, phase: str, action: str) -> list[str]:
        python = str(self.option(f"{phase}_CMD") or sys.executable)
        helper = [python, "-m", "django_rclone_sqlite.rawfile"]
        if phase == "DUMP":
            helper += ["--busy-timeout", f"{self.busy_timeout():g}"]
        helper += [action, self._check_file()]
        return [*self.words(f"{phase}_PREFIX"), *helper, *self.words(f"{phase}_SUFFIX")]

    def dump_argv(self) -> list[str]:
        return self._helper("DUMP", self.dump_action)

    def restore_argv(self) -> list[str]:
        return self._helper("RESTORE", self.restore_action)

    def dump_args(self) -> list[str]:
        return []

    def tool_label(self, phase: Phase) -> str:
        action = self.dump_action if phase == "DUMP" else self.restore_action
        return f"django_rclone_sqlite.rawfile {action}"

    def excluded(self) -> list[str]:
        return []

    def check_dump(self, sample: StreamSample) -> None:
        """The stream must be an SQLite file (header magic) exactly as long as its header says."""
        if not sample.head.startswith(HEADER):
            raise IncompleteDump(f"its output is not an SQLite database file ({sample.size} bytes)")
        size = expected_size(sample.head)
        if size is not None and size != sample.size:
            raise IncompleteDump(f"its output is {sample.size} bytes but the database file's header says {size}")

    def restore_sandboxed(self) -> bool:
        """A database file is copied, never executed: no command in it can run."""
        return True

    def restore_guard(self) -> RestoreGuard | None:
        return None

    def tool_versions(self) -> dict[str, str]:
        return {"python-sqlite3": sqlite3.sqlite_version}


class SqliteBackupConnector(_RawFileConnector):
    """Online-safe file backup with SQLite's backup API; consistent while the application writes.

    The dump keeps one private temporary copy of the database (the backup API cannot write to a
    pipe). The restore checks the incoming file, then copies it over the target with the backup API.
    """

    dump_action = "backup-dump"
    restore_action = "backup-restore"


class SqliteCPConnector(_RawFileConnector):
    """Plain file copy, for databases nothing writes to while the backup or restore runs.

    The dump refuses when a non-empty ``-wal``/``-journal`` file exists; the restore renames a
    checked scratch file over the target (``os.replace``).
    """

    dump_action = "copy-dump"
    restore_action = "copy-restore"
