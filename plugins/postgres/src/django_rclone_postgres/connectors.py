"""PostgreSQL and PostGIS connectors.

``PgDumpConnector`` (the default) writes pg_dump's custom archive format and restores it with
pg_restore: compressed, and pg_restore notices a truncated archive on its own. ``PgDumpSqlConnector``
writes plain SQL that a person can read and psql can replay. The GIS variants first make sure the
``postgis`` extension exists, as ``ADMIN_USER``, because creating it needs more rights than an
application role usually has.
"""

from __future__ import annotations

import subprocess

from django.core.exceptions import ImproperlyConfigured

from django_rclone.db.base import ToolNotFound
from django_rclone.exceptions import IncompleteDump
from django_rclone.sample import StreamSample
from django_rclone_postgres.base import PostgresCommandConnector

#: The magic bytes every pg_dump archive starts with.
ARCHIVE_MAGIC = b"PGDMP"
#: The comment pg_dump writes at the end of a plain-SQL dump once everything was dumped.
PLAIN_TRAILER = b"-- PostgreSQL database dump complete"
#: How long the archive check (``pg_restore``) may take.
CHECK_TIMEOUT = 300


class PgDumpConnector(PostgresCommandConnector):
    """``pg_dump --format=custom`` for backups, ``pg_restore`` for restores (extension ``dump``)."""

    extension = "dump"
    known_options = frozenset(
        {
            "ADMIN_USER",
            "ADMIN_PASSWORD",
            "PSQL_CMD",
            "SCHEMAS",
            "DROP",
            "IF_EXISTS",
            "SINGLE_TRANSACTION",
            "OWNED_EXTENSIONS_ONLY",
            "COMPRESSION",
        }
    )
    dump_cmd = "pg_dump"
    restore_cmd = "pg_restore"

    def dump_args(self) -> list[str]:
        return [
            "--format=custom",
            *self.compression_args(),
            "--no-password",
            *self.lock_wait_args(),
            *self.extension_args,
            *self.selection_args(),
            *self.connection_args(),
            self.dbname(),
        ]

    def check_dump(self, sample: StreamSample) -> None:
        """The archive must be one ``pg_restore`` can read.

        A dump that fits the sample's head (4 MiB) is read whole by ``pg_restore --file=/dev/null``
        (table of contents and every data block). A larger one: ``pg_restore --list`` must read the
        table of contents from the head (which is where pg_dump writes it when the output is a
        pipe; a contents list longer than the head, tens of thousands of objects, is read as far as
        the head goes), and the stream must end with the end-of-data marker its last data block
        writes.
        """
        self.check_stderr(sample)
        head = sample.head
        if not head.startswith(ARCHIVE_MAGIC) or len(head) < 11:
            raise IncompleteDump(f"its output is not a pg_dump archive ({sample.size} bytes)")
        if sample.whole:
            ok, detail = self._pg_restore(["--file=/dev/null"], head)
            if not ok:
                raise IncompleteDump(f"pg_restore cannot read the archive: {detail}")
            return
        ok, detail = self._pg_restore(["--list"], head)
        toc_beyond_head = not ok and "end of file" in detail.lower()
        if not ok and not toc_beyond_head:
            raise IncompleteDump(f"pg_restore cannot read the archive's table of contents: {detail}")
        int_size = head[8]
        if (toc_beyond_head or b"TABLE DATA" in detail.encode() or b"BLOB" in detail.encode()) and (
            not sample.tail.endswith(bytes(1 + int_size))
        ):
            raise IncompleteDump(f"the archive stops inside a data block ({sample.size} bytes)")

    def _pg_restore(self, args: list[str], data: bytes) -> tuple[bool, str]:
        """Run ``pg_restore ARGS`` on ``data`` (stdin); ``(exit status 0, stdout or stderr)``."""
        exe = str(self.option("RESTORE_CMD") or self.restore_cmd)
        try:
            done = subprocess.run(
                [exe, *args],
                input=data,
                capture_output=True,
                env=self.environment("RESTORE"),
                timeout=CHECK_TIMEOUT,
                check=False,
            )
        except FileNotFoundError as exc:
            raise ToolNotFound(
                f"{exe!r} (needed to check the backup of database {self.database!r}) was not found "
                f"({self.install_hint}); install it or point RESTORE_CMD at it."
            ) from exc
        if done.returncode == 0:
            return True, done.stdout.decode(errors="replace")
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return False, (lines[0] if lines else f"exit status {done.returncode}")

    def restore_args(self) -> list[str]:
        args = ["--no-owner", "--no-acl"]
        if self.drop:
            args.append("--clean")
        if self.if_exists:
            args.append("--if-exists")
        args.append("--no-password")
        if self.single_transaction:
            args.append("--single-transaction")
        return [*args, *self.connection_args(), "-d", self.dbname()]


class PgDumpSqlConnector(PostgresCommandConnector):
    """Plain-SQL ``pg_dump`` for backups, replayed by ``psql`` (extension ``sql``).

    Ownership and privileges are left out at dump time (a plain dump cannot skip them on restore),
    and the drops for ``DROP`` are written into the dump. psql reads the dump as a file
    (``--file=-``) so that ``--single-transaction`` wraps all of it.
    """

    extension = "sql"
    known_options = frozenset(
        {
            "ADMIN_USER",
            "ADMIN_PASSWORD",
            "PSQL_CMD",
            "SCHEMAS",
            "DROP",
            "IF_EXISTS",
            "SINGLE_TRANSACTION",
            "OWNED_EXTENSIONS_ONLY",
            "COMPRESSION",
        }
    )
    dump_cmd = "pg_dump"
    restore_cmd = "psql"
    #: No ``DROP`` for one restore: the drops are written into a plain dump when it is made, so
    #: ``dbrestore --no-drop`` could not leave them out; set ``DROP: False`` before backing up.
    run_options = frozenset({"SCHEMAS", "EXCLUDE"})

    def dump_args(self) -> list[str]:
        if self.option("COMPRESSION") not in (None, ""):
            raise ImproperlyConfigured(
                f"Connector option COMPRESSION for database {self.database!r}: a plain-SQL dump must stay "
                "uncompressed for psql; use PgDumpConnector, or an rclone 'compress' remote."
            )
        args = ["--format=plain", "--no-owner", "--no-privileges", "--no-password", *self.lock_wait_args()]
        if self.drop:
            args.append("--clean")
        if self.if_exists:
            args.append("--if-exists")
        return [*args, *self.extension_args, *self.selection_args(), *self.connection_args(), self.dbname()]

    def check_dump(self, sample: StreamSample) -> None:
        """A plain dump ends with pg_dump's ``-- PostgreSQL database dump complete`` comment (newer
        pg_dump releases may add a ``\\unrestrict`` line after it)."""
        self.check_stderr(sample)
        ending = sample.tail.rstrip().splitlines()[-4:]
        if not any(line.strip() == PLAIN_TRAILER for line in ending):
            last = ending[-1].decode(errors="replace")[-80:] if ending else "nothing"
            raise IncompleteDump(
                f"its output does not end with pg_dump's '-- PostgreSQL database dump complete' line "
                f"(it ends with {last!r}, {sample.size} bytes)"
            )

    def restore_args(self) -> list[str]:
        args = ["--no-password", "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1"]
        if self.single_transaction:
            args.append("--single-transaction")
        return [*args, *self.connection_args(), "-d", self.dbname(), "--file=-"]


class PostgisMixin(PostgresCommandConnector):
    """PostGIS handling shared by the GIS connectors.

    The ``postgis`` extension is normally created by a superuser, so the application role can
    neither drop nor re-create it. Dumps therefore leave out extensions the backup role does not
    own (``OWNED_EXTENSIONS_ONLY`` defaults to on), and before a restore ``prepare_restore()`` runs
    ``CREATE EXTENSION IF NOT EXISTS postgis;`` as ``ADMIN_USER`` (skipped when it is not set).
    """

    extension_sql = "CREATE EXTENSION IF NOT EXISTS postgis;"
    owned_extensions_only = True

    def prepare_restore(self) -> None:
        if self.option("ADMIN_USER"):
            self.run_psql(self.extension_sql, admin=True)


class PgDumpGisConnector(PostgisMixin, PgDumpConnector):
    """``PgDumpConnector`` for PostGIS databases."""


class PgDumpGisSqlConnector(PostgisMixin, PgDumpSqlConnector):
    """``PgDumpSqlConnector`` for PostGIS databases."""
