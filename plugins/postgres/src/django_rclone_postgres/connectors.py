"""PostgreSQL and PostGIS connectors.

``PgDumpConnector`` (the default) writes pg_dump's custom archive format and restores it with
pg_restore: compressed by the core's zstd stage (pg_dump's own slower zlib is turned off unless the
alias sets ``COMPRESSION``), and pg_restore notices a truncated archive on its own. ``PgDumpSqlConnector``
writes plain SQL that a person can read and psql can replay. The GIS variants first make sure the
``postgis`` extension exists, as ``ADMIN_USER``, because creating it needs more rights than an
application role usually has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_rclone.db.base import RestoreGuard
from django_rclone_postgres.base import PostgresCommandConnector
from django_rclone_postgres.restrict import PsqlRestrictGuard, has_restrict

#: Per-alias options both PostgreSQL connectors read (``BaseConnector.known_options``).
OPTIONS = frozenset(
    {
        "ADMIN_USER",
        "ADMIN_PASSWORD",
        "PSQL_CMD",
        "SCHEMAS",
        "DROP",
        "IF_EXISTS",
        "SINGLE_TRANSACTION",
        "OWNED_EXTENSIONS_ONLY",
        "COUNT_ROWS",
        "COMPRESSION",
    }
)


class PgDumpConnector(PostgresCommandConnector):
    """``pg_dump --format=custom`` for backups, ``pg_restore`` for restores (extension ``dump``)."""

    extension = "dump"
    known_options = OPTIONS
    dump_cmd = "pg_dump"
    restore_cmd = "pg_restore"
    #: pg_restore sends an archive's SQL to the server over libpq; it has no client-side commands
    #: (no ``\\!``, no ``\\copy``), so nothing in an archive can run on this machine.
    sandboxed = True

    def __init__(self, database: str = "default", options: Mapping[str, Any] | None = None) -> None:
        super().__init__(database, options)
        # An explicit COMPRESSION option keeps pg_dump's own compression and the core stores as is.
        value = self.option("COMPRESSION")
        self.output_compressed = value not in (None, "") and str(value).strip().lower() not in ("0", "none")

    def dump_args(self) -> list[str]:
        return [
            "--format=custom",
            *self.compression_args(),
            "--no-password",
            *self.lock_wait_args(),
            *self.snapshot_args,
            *self.extension_args,
            *self.selection_args(),
            *self.connection_args(),
            self.dbname(),
        ]

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

    psql would run meta-commands found in a backup (``\\!``, ``\\o |cmd``...). Where psql has
    ``\\restrict`` (13.22, 14.19, 15.14, 16.10, 17.6, 18+), the restore puts it into restricted mode
    with a per-run key first (``restrict.PsqlRestrictGuard``); with an older psql, the core checks
    the whole backup against its manifest before psql receives a byte.
    """

    extension = "sql"
    known_options = OPTIONS
    dump_cmd = "pg_dump"
    restore_cmd = "psql"
    #: No ``DROP`` for one restore: the drops are written into a plain dump when it is made, so
    #: ``dbrestore --no-drop`` could not leave them out; set ``DROP: False`` before backing up.
    run_options = frozenset({"SCHEMAS", "EXCLUDE"})

    def dump_args(self) -> list[str]:
        if self.option("COMPRESSION") not in (None, ""):
            raise ImproperlyConfigured(
                f"Connector option COMPRESSION for database {self.database!r}: a plain-SQL dump must stay "
                "uncompressed for psql; the core's COMPRESSION setting (zstd by default) compresses it."
            )
        args = ["--format=plain", "--no-owner", "--no-privileges", "--no-password", *self.lock_wait_args()]
        if self.drop:
            args.append("--clean")
        if self.if_exists:
            args.append("--if-exists")
        return [
            *args,
            *self.snapshot_args,
            *self.extension_args,
            *self.selection_args(),
            *self.connection_args(),
            self.dbname(),
        ]

    def restore_sandboxed(self) -> bool:
        """Whether the restore's psql has ``\\restrict`` (from ``psql --version``)."""
        if "_psql_restricts" not in self.__dict__:
            self.__dict__["_psql_restricts"] = has_restrict(self.tool_version("RESTORE", self.restore_cmd))
        return bool(self.__dict__["_psql_restricts"])

    def restore_guard(self) -> RestoreGuard | None:
        return PsqlRestrictGuard() if self.restore_sandboxed() else None

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
