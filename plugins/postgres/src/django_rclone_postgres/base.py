"""What every PostgreSQL connector shares: connection arguments, libpq environment, options.

The connectors in ``connectors.py`` differ only in the dump format and the restore tool; the
password handling, the per-alias options (django-dbbackup's names) and the admin ``psql`` call
live here once.
"""

from __future__ import annotations

import fnmatch
import os
import re
import secrets
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_rclone.db.base import BaseConnector, CommandConnector, Phase, ToolNotFound
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.sample import StreamSample
from django_rclone_postgres import dumpcheck
from django_rclone_postgres.libpq import libpq_environment

#: ``COMPRESSION`` values pg_dump 16+ accepts besides a 0-9 level: ``gzip``, ``lz4``, ``zstd`` or
#: ``none``, optionally with ``:DETAIL`` (``zstd:3``, ``gzip:level=9``, ``zstd:long``).
_COMPRESSION_METHOD = re.compile(r"^(gzip|lz4|zstd|none)(:[A-Za-z0-9_=,]+)?$")

#: Every extension of the database except those initdb made (OIDs below FirstNormalObjectId, such
#: as plpgsql, which pg_dump never re-creates), with whether the connecting role owns it.
EXTENSIONS_SQL = (
    "SELECT extname, pg_has_role(extowner, 'USAGE') FROM pg_catalog.pg_extension WHERE oid >= 16384 ORDER BY extname"
)


def owned_extension_args(rows: Sequence[tuple[str, bool]]) -> list[str]:
    """pg_dump arguments that keep only the extensions the backup role owns (none when it owns all).

    Naming extensions switches pg_dump into selective mode: ``plpgsql`` is always named so the list
    is never empty (an empty list would mean "all"), and ``-b`` keeps large objects, which selective
    dumps otherwise leave out.
    """
    owned = [name for name, mine in rows if mine]
    if len(owned) == len(rows):
        return []
    args: list[str] = []
    for name in ["plpgsql", *owned]:
        args.append("--extension=" + '"' + name.replace('"', '""') + '"')
    return [*args, "-b"]


#: psql script printing ``schema.table|rows`` for every ordinary or partitioned table that is not
#: part of an extension (those come back with ``CREATE EXTENSION``, not with the dump's data).
COUNT_SCRIPT = r"""SELECT format('SELECT %L || ''|'' || count(*) FROM %I.%I',
              n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
AND n.nspname NOT LIKE 'pg\_%'
AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1 \gexec
"""

#: Printed by the snapshot session after the counts, so their end is never guessed.
_END = "django-rclone-counts-end"


def parse_count_lines(text: str) -> dict[str, int]:
    """``schema.table|rows`` lines (psql unaligned, tuples only) as a dict."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        table, bar, rows = line.rpartition("|")
        if bar and rows.strip().isdigit():
            counts[table] = int(rows)
    return counts


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PsqlError(DjangoRcloneError):
    """A psql side call (``CREATE EXTENSION`` as ``ADMIN_USER``, the extension query) failed."""


class PostgresCommandConnector(CommandConnector):
    """Base class of the PostgreSQL connectors (not used for an engine on its own).

    Per-alias options, read with ``self.option()`` from ``DJANGO_RCLONE["CONNECTORS"][alias]`` first
    and ``DATABASES[alias]`` second:

    - ``SINGLE_TRANSACTION`` (``True``): Apply the whole restore in one transaction, so a failed or
      interrupted restore changes nothing.
    - ``DROP`` (``True``): Drop each object before re-creating it (``--clean``), so a restore replaces
      existing data.
    - ``IF_EXISTS`` (``True``): Write those drops as ``DROP ... IF EXISTS``; only meaningful (and only
      passed) with ``DROP``.
    - ``SCHEMAS`` (all): Dump only these schemas (``-n`` for each).
    - ``EXCLUDE`` (none): Leave these tables out of the dump entirely, definition and data
      (``--exclude-table`` each).
    - ``PSQL_CMD`` (``psql``), ``ADMIN_USER``, ``ADMIN_PASSWORD``: Tool and role for administrative
      statements such as ``CREATE EXTENSION``.
    - ``COMPRESSION`` (unset): ``--compress`` for the custom format: a level 0-9, or
      ``method[:detail]`` with pg_dump 16+. Unset, pg_dump writes uncompressed (``--compress=0``)
      while the core's compression stage is on (``DJANGO_RCLONE["COMPRESSION"]``), and compresses
      with its default otherwise. Set, pg_dump compresses and the core stores its output as it is.
    - ``OWNED_EXTENSIONS_ONLY`` (``False``; ``True`` for PostGIS): Leave out of the dump the extensions
      the backup role does not own: that role could not drop, re-create or comment on them during a
      restore, so a restore would fail on them.
    - ``LOCK_WAIT_TIMEOUT`` (none: wait as long as it takes): Seconds pg_dump waits for the shared
      lock on each table (``--lock-wait-timeout``); a table held in ``ACCESS EXCLUSIVE`` mode by
      another session longer than that fails the backup instead of stalling it.

    libpq keywords in ``DATABASES[alias]["OPTIONS"]`` (``sslmode``, ``sslrootcert``...) reach the
    tools as ``PG*`` environment variables; the password only ever travels as ``PGPASSWORD``.
    """

    install_hint = "the PostgreSQL client tools, e.g. `apt-get install postgresql-client`"
    #: Options the commands may set for one run (``dbbackup --schema`` / ``--exclude-tables``,
    #: ``dbrestore --no-drop``); see ``django_rclone.run_options``.
    run_options = frozenset({"SCHEMAS", "EXCLUDE", "DROP"})
    psql_cmd = "psql"
    #: Default of ``OWNED_EXTENSIONS_ONLY``; the PostGIS connectors turn it on.
    owned_extensions_only = False
    #: Extension selection for the current dump, found by ``dump()`` (see ``owned_extension_args``).
    extension_args: tuple[str, ...] = ()

    # -- options ---------------------------------------------------------------------------------
    def names(self, key: str) -> list[str]:
        """A list-of-names option (``SCHEMAS``, ``EXCLUDE``); a single string is one name."""
        value = self.option(key)
        if not value:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, Sequence) and all(isinstance(v, str) and v for v in value):
            return list(value)
        raise ImproperlyConfigured(
            f"Connector option {key} for database {self.database!r} must be a list of names, got {value!r}."
        )

    @property
    def single_transaction(self) -> bool:
        return self.flag("SINGLE_TRANSACTION", True)

    @property
    def drop(self) -> bool:
        return self.flag("DROP", True)

    @property
    def if_exists(self) -> bool:
        """``IF EXISTS`` is a modifier of ``--clean``: pg_dump and pg_restore reject it alone."""
        return self.drop and self.flag("IF_EXISTS", True)

    def dbname(self) -> str:
        if not self.name:
            raise ImproperlyConfigured(
                f"Database {self.database!r} has no NAME; the PostgreSQL connectors need the database name."
            )
        return self.name

    # -- argv pieces -----------------------------------------------------------------------------
    def connection_args(self, user: str | None = None) -> list[str]:
        """``-h HOST -p PORT -U USER`` for the parts that are set (never a password)."""
        args: list[str] = []
        if self.host:
            args += ["-h", self.host]
        if self.port:
            args += ["-p", self.port]
        user = self.user if user is None else user
        if user:
            args += ["-U", user]
        return args

    def selection_args(self) -> list[str]:
        """pg_dump's object selection: ``-n`` per schema, ``--exclude-table`` per excluded table."""
        args: list[str] = []
        for schema in self.names("SCHEMAS"):
            args += ["-n", schema]
        for table in self.names("EXCLUDE"):
            args += ["--exclude-table", table]
        return args

    def lock_wait_args(self) -> list[str]:
        """``--lock-wait-timeout=MS`` from ``LOCK_WAIT_TIMEOUT`` (seconds), or nothing."""
        seconds = self.seconds("LOCK_WAIT_TIMEOUT")
        return [] if seconds is None else [f"--lock-wait-timeout={max(1, round(seconds * 1000))}"]

    def check_dump(self, sample: StreamSample) -> None:
        """The output must be complete for its format (see ``dumpcheck``): ``pg_restore`` reads a
        custom or tar archive, a plain dump ends with pg_dump's completion comment; an error on
        stderr fails the backup too."""
        exe = self.pg_restore_path()
        try:
            dumpcheck.check(sample, dumpcheck.run_pg_restore(exe, self.environment("RESTORE")))
        except FileNotFoundError as exc:
            raise ToolNotFound(
                f"{exe!r} (needed to check the backup of database {self.database!r}) was not found "
                f"({self.install_hint}); install it, or set RESTORE_CMD (custom format) to its path."
            ) from exc

    def pg_restore_path(self) -> str:
        """``pg_restore`` for the archive check: ``RESTORE_CMD`` when the restore tool is pg_restore,
        else the one beside ``DUMP_CMD`` when that is a path, else ``pg_restore`` from ``PATH``."""
        if self.restore_cmd == "pg_restore":
            return str(self.option("RESTORE_CMD") or "pg_restore")
        dump_cmd = str(self.option("DUMP_CMD") or "")
        return os.path.join(os.path.dirname(dump_cmd), "pg_restore") if os.sep in dump_cmd else "pg_restore"

    def compression_args(self) -> list[str]:
        """``--compress=...`` from ``COMPRESSION``: a level 0-9, or ``method[:detail]`` (pg_dump 16+)."""
        value = self.option("COMPRESSION")
        if value is None or value == "":
            # The core compresses the stream (faster, on every core): pg_dump's zlib would only slow it.
            return ["--compress=0"] if self.stage_compression != "none" else []
        text = str(value).strip().lower()
        level_ok = not isinstance(value, bool) and text.isdigit() and 0 <= int(text) <= 9
        if not (level_ok or _COMPRESSION_METHOD.match(text)):
            raise ImproperlyConfigured(
                f"Connector option COMPRESSION for database {self.database!r} is {value!r}: use a level 0-9, "
                "or with pg_dump 16+ a method such as 'zstd', 'zstd:3', 'lz4' or 'gzip:9'."
            )
        return [f"--compress={text}"]

    def find_extension_args(self) -> list[str]:
        """Ask the database which extensions the backup role owns (one psql query as that role)."""
        rows = []
        for line in self.run_psql(EXTENSIONS_SQL).splitlines():
            name, _, mine = line.partition("|")
            if name:
                rows.append((name, mine.strip() == "t"))
        return owned_extension_args(rows)

    #: ``--snapshot=ID`` of the current dump (see ``dump()``).
    snapshot_args: tuple[str, ...] = ()
    _session: subprocess.Popen[str] | None = None

    def dump(self) -> subprocess.Popen[bytes]:
        """With ``OWNED_EXTENSIONS_ONLY``, first look up which extensions to leave out. With
        ``COUNT_ROWS`` (default on), open a psql session that exports a repeatable-read snapshot
        and give it to pg_dump (``--snapshot``): ``dump_finished()`` counts every table's rows in
        that same snapshot, so the counts match the dump exactly. Then start pg_dump."""
        if self.flag("OWNED_EXTENSIONS_ONLY", self.owned_extensions_only):
            self.extension_args = tuple(self.find_extension_args())
        if self.flag("COUNT_ROWS", True):
            self.snapshot_args = (f"--snapshot={self._export_snapshot()}",)
        return super().dump()

    def _export_snapshot(self) -> str:
        argv = self.psql_argv("", user=None)[:-2]  # no -c: the session reads its statements on stdin
        try:
            session = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.environment("DUMP"),
                text=True,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ToolNotFound(
                f"{argv[0]!r} was not found for database {self.database!r} ({self.install_hint})"
            ) from exc
        self._session = session
        assert session.stdin is not None
        assert session.stdout is not None
        try:
            session.stdin.write(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_catalog.pg_export_snapshot();\n"
            )
            session.stdin.flush()
        except BrokenPipeError:  # psql already exited (it could not connect): its stderr says why
            pass
        snapshot = session.stdout.readline().strip()
        if not re.fullmatch(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?", snapshot):
            session.kill()
            _out, err = session.communicate()
            raise PsqlError(
                f"psql could not export a snapshot for the dump of database {self.database!r}: "
                f"{(err or snapshot).strip() or 'no output'}. Set COUNT_ROWS: False for this alias to back up "
                "without the table counts restore drills compare"
            )
        return snapshot

    def dump_finished(self) -> dict[str, Any]:
        """The row count of every dumped table, taken in the dump's own snapshot."""
        session, self._session = self._session, None
        if session is None:
            return {}
        assert session.stdin is not None
        script = f"{COUNT_SCRIPT}\\echo {_END}\nCOMMIT;\n"
        out, err = session.communicate(script, timeout=3600)
        if session.returncode != 0 or _END not in out:
            raise PsqlError(
                f"counting the rows of database {self.database!r} failed: {err.strip() or 'no output'}. "
                "Set COUNT_ROWS: False for this alias to back up without table counts"
            )
        return {self.TABLE_COUNTS: self._selected(parse_count_lines(out.split(_END)[0]))}

    def _selected(self, counts: dict[str, int]) -> dict[str, int]:
        """Keep the tables pg_dump dumped: in ``SCHEMAS`` (when set), not matching ``EXCLUDE``
        (pg_dump patterns: ``*`` and ``?``, with or without the schema)."""
        schemas = [p.lower() for p in self.names("SCHEMAS")]
        excluded = [p.lower() for p in self.names("EXCLUDE")]
        kept = {}
        for table, rows in counts.items():
            schema, _, name = table.partition(".")
            if schemas and not any(fnmatch.fnmatchcase(schema, p) for p in schemas):
                continue
            if any(fnmatch.fnmatchcase(table, p) or fnmatch.fnmatchcase(name, p) for p in excluded):
                continue
            kept[table] = rows
        return kept

    def cleanup(self) -> None:
        session, self._session = self._session, None
        if session is not None and session.poll() is None:
            session.kill()
            session.communicate()
        super().cleanup()

    # -- restore drills ----------------------------------------------------------------------------
    #: The live database a drill connector's scratch database belongs to.
    drill_of: str = ""

    def drill_target(self) -> BaseConnector:
        """A new database ``<NAME>_drill_<random>`` on the same server (created and dropped as
        ``ADMIN_USER`` when set, owned by ``USER``; otherwise ``USER`` needs ``CREATEDB``)."""
        suffix = f"_drill_{secrets.token_hex(4)}"
        scratch = self.scratch_copy(NAME=self.dbname()[: 63 - len(suffix)] + suffix)
        assert isinstance(scratch, PostgresCommandConnector)
        scratch.drill_of = self.dbname()
        return scratch

    def _scratch_sql(self, sql: str) -> None:
        self.run_psql(sql, admin=bool(self.option("ADMIN_USER")), dbname=self.drill_of)

    def create_scratch(self) -> None:
        owner = f" OWNER {quote_ident(self.user)}" if self.user and self.option("ADMIN_USER") else ""
        self._scratch_sql(f"CREATE DATABASE {quote_ident(self.dbname())}{owner}")

    def drop_scratch(self) -> None:
        if not self.drill_of:
            return
        self._scratch_sql(f"DROP DATABASE IF EXISTS {quote_ident(self.dbname())} WITH (FORCE)")

    def table_counts(self) -> dict[str, int]:
        return parse_count_lines(self.run_psql(COUNT_SCRIPT, stdin_script=True))

    # -- environment -----------------------------------------------------------------------------
    def secret_env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password} if self.password else {}

    def environment(self, phase: Phase, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """libpq variables from ``DATABASES[alias]["OPTIONS"]`` are added before ``ENV`` and ``<PHASE>_ENV``."""
        return super().environment(phase, {**libpq_environment(self.connection_options), **(extra or {})})

    # -- psql side calls -------------------------------------------------------------------------
    def admin_environment(self) -> dict[str, str]:
        """The restore environment with the application's password swapped for ``ADMIN_PASSWORD``.

        Without ``ADMIN_PASSWORD`` the admin role authenticates the way libpq finds on its own
        (``~/.pgpass``, ``PGPASSFILE``, peer or trust); it is never sent the application's password.
        """
        env = self.environment("RESTORE")
        if self.password and env.get("PGPASSWORD") == self.password:
            del env["PGPASSWORD"]
        admin_password = self.option("ADMIN_PASSWORD")
        if admin_password:
            env["PGPASSWORD"] = str(admin_password)
        return env

    def psql_argv(self, sql: str, user: str | None = None, dbname: str | None = None) -> list[str]:
        """``psql`` running one statement with unaligned, tuples-only output, stopping on error."""
        return [
            str(self.option("PSQL_CMD") or self.psql_cmd),
            "--no-password",
            "--no-psqlrc",
            "--quiet",
            "--no-align",
            "--tuples-only",
            "-v",
            "ON_ERROR_STOP=1",
            *self.connection_args(user=user),
            "-d",
            dbname or self.dbname(),
            "-c",
            sql,
        ]

    def run_psql(self, sql: str, *, admin: bool = False, dbname: str | None = None, stdin_script: bool = False) -> str:
        """Run ``sql`` with psql (as ``ADMIN_USER`` when ``admin``) and return its output.

        These are short side calls around a dump or restore, not pipeline stages, so they run to
        completion here; failures raise ``PsqlError`` carrying psql's stderr.
        """
        if admin:
            role = f"ADMIN_USER {self.option('ADMIN_USER')!r}"
            argv = self.psql_argv(sql, user=str(self.option("ADMIN_USER")), dbname=dbname)
            env = self.admin_environment()
        else:
            role = f"USER {self.user!r}" if self.user else "the default user"
            argv, env = self.psql_argv(sql, dbname=dbname), self.environment("DUMP")
        script = None
        if stdin_script:  # a script with meta-commands (\gexec) is read from stdin, not -c
            argv, script = argv[:-2], sql.encode()
        try:
            done = subprocess.run(
                argv,
                env=env,
                input=script,
                stdin=None if stdin_script else subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
        except FileNotFoundError as exc:
            raise ToolNotFound(
                f"{argv[0]!r} was not found for database {self.database!r} ({self.install_hint}); "
                "install it or set the PSQL_CMD option."
            ) from exc
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip() or "(no output on stderr)"
            raise PsqlError(
                f"psql as {role} could not run {sql!r} on database {self.database!r} "
                f"(exit status {done.returncode}): {detail}"
            )
        return done.stdout.decode(errors="replace")

    def estimated_size(self) -> int | None:
        """``pg_database_size(current_database())`` from a psql side call (at most 10 s), else ``None``."""
        argv = self.psql_argv("SELECT pg_database_size(current_database())")
        try:
            done = subprocess.run(
                argv, env=self.environment("DUMP"), stdin=subprocess.DEVNULL, capture_output=True, timeout=10
            )
            return int(done.stdout.strip()) if done.returncode == 0 else None
        except (OSError, subprocess.SubprocessError, ValueError):
            return None

    def tool_versions(self) -> dict[str, str]:
        return {
            self.dump_cmd: self.tool_version("DUMP", self.dump_cmd),
            self.restore_cmd: self.tool_version("RESTORE", self.restore_cmd),
        }
