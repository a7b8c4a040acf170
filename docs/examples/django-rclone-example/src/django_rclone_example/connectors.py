"""The connector of django-rclone-example, built on the core's ``CommandConnector``.

A backup is ``sqlite3 -readonly NAME .dump``: portable SQL text on stdout, streamed by the core
into ``rclone rcat``. A restore pipes that SQL into ``sqlite3`` writing a *scratch* file beside the
database, never the database itself. Only once the core reports that the whole stream arrived and
matched its manifest (the restore process exited 0) is the scratch file checked and renamed over
the database, in one atomic step. A truncated, corrupted or interrupted restore therefore leaves the
database exactly as it was, and ``cleanup()`` removes the scratch file.

The lifecycle this shows, in the order the core calls it: ``prepare_restore()`` ->
``restore()`` -> (the core pumps the bytes) -> ``restore_finished()`` -> ``cleanup()``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from django_rclone.db.base import CommandConnector, StdinSource
from django_rclone.exceptions import DjangoRcloneError


class AcmeRestoreError(DjangoRcloneError):
    """The restored SQL did not produce a sound database; the live database was left untouched."""


class AcmeSqliteConnector(CommandConnector):
    """Stream an Acme (SQLite file) database as SQL; restore into a scratch file, then swap it in.

    Only ``NAME`` is read from ``DATABASES``: a SQLite file needs no host or credentials, so
    ``secret_env()`` stays the inherited empty dict. A server-based connector would return its
    password variable there (``PGPASSWORD``, ``MYSQL_PWD``...), never put it in argv.
    """

    extension = "acme.sql"
    dump_cmd = "sqlite3"
    restore_cmd = "sqlite3"
    install_hint = "the sqlite3 command-line shell, e.g. `apt-get install sqlite3`"

    _restore_proc: subprocess.Popen[bytes] | None = None
    _scratch_in_use = False

    # -- paths -------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The database file; in-memory databases cannot be backed up."""
        if not self.name or self.name == ":memory:" or self.name.startswith("file:"):
            raise ImproperlyConfigured(
                f"DATABASES[{self.database!r}]['NAME'] must be the path of a database file "
                f"to back it up with {type(self).__name__} (got {self.name!r})."
            )
        return Path(self.name)

    @property
    def scratch(self) -> Path:
        """Where a restore writes first: beside the database, so the final rename is atomic."""
        return self.path.with_name(f".{self.path.name}.restoring")

    # -- argv (CommandConnector adds DUMP_CMD, *_PREFIX, *_SUFFIX around these) ---------------
    def dump_args(self) -> list[str]:
        return ["-bail", "-batch", "-readonly", str(self.path), ".dump"]

    def restore_args(self) -> list[str]:
        return ["-bail", "-batch", str(self.scratch)]

    # -- restore lifecycle -------------------------------------------------------------------
    def prepare_restore(self) -> None:
        """Remove a scratch file a killed earlier restore may have left, so SQL lands in an empty file."""
        self._scratch_in_use = True
        self._remove_scratch()

    def restore(self, stdin: StdinSource = None) -> subprocess.Popen[bytes]:
        """Start ``sqlite3`` on the scratch file; keep the process to read its exit status later.

        The core owns the process: it pumps stdin, drains stderr, waits and kills. This method only
        starts it and remembers it.
        """
        self._restore_proc = super().restore(stdin)
        return self._restore_proc

    def restore_finished(self) -> None:
        """Swap the scratch file in if, and only if, the restore process succeeded.

        The core calls this after a failed restore too (then the process was killed or exited
        non-zero, and nothing is swapped: the core reports the original error).
        """
        proc = self._restore_proc
        if proc is None or proc.returncode != 0:
            return
        busy = [f"{self.path}{suffix}" for suffix in ("-wal", "-journal") if Path(f"{self.path}{suffix}").exists()]
        if busy:
            # Renaming over a file another connection has open would pair the new database with
            # the old one's journal: refuse instead, while nothing has been replaced yet.
            raise AcmeRestoreError(
                f"Database {self.database!r} is in use ({', '.join(busy)} exists); stop the processes "
                f"using {self.path} and restore again. {self.path} was left untouched."
            )
        with closing(sqlite3.connect(self.scratch)) as check:
            verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise AcmeRestoreError(
                f"The restored copy of database {self.database!r} failed its integrity check ({verdict}); "
                f"{self.path} was left untouched."
            )
        os.replace(self.scratch, self.path)

    def cleanup(self) -> None:
        """After a restore, remove the scratch file on every path (a successful swap consumed it)."""
        try:
            if self._scratch_in_use:
                self._remove_scratch()
        finally:
            self._scratch_in_use = False
            self._restore_proc = None
            super().cleanup()

    def _remove_scratch(self) -> None:
        """The scratch file and the journal a killed ``sqlite3`` leaves beside it."""
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.scratch}{suffix}").unlink(missing_ok=True)

    def tool_versions(self) -> dict[str, str]:
        """Recorded in each backup's manifest."""
        return {"sqlite3": self.tool_version("DUMP", self.dump_cmd, "-version")}
