"""The MySQL / MariaDB connector: ``mysqldump`` (or ``mariadb-dump``) out, ``mysql`` (or ``mariadb``) in.

Backups are plain SQL from ``--single-transaction --quick``: a consistent snapshot of InnoDB tables
without locking writers, streamed row by row. Restores pipe that SQL into the command-line client,
into a shadow database that is swapped in atomically once the whole stream succeeded (``shadow``),
unless ``ATOMIC_RESTORE`` is off. A backup is untrusted input: the client runs with ``--sandbox``
where it has the option, so client commands in a backup (``system``, ``\\!``, ``source``...) are
refused, and always with ``--local-infile=0``.
The password travels in a 0600 option file named by ``--defaults-extra-file`` (see ``option_file``
for why not ``MYSQL_PWD``); it never appears in a command line or in the child's environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
from collections.abc import Mapping
from typing import IO, Any

from django.core.exceptions import ImproperlyConfigured

from django_rclone.db.base import BaseConnector, CommandConnector, Phase, StdinSource
from django_rclone.exceptions import IncompleteDump
from django_rclone.sample import StreamSample
from django_rclone_mysql import option_file
from django_rclone_mysql.connection import connection_flags
from django_rclone_mysql.shadow import AtomicRestoreError, Row, Shadow, parse_xml, run_client
from django_rclone_mysql.tools import DUMP_TOOLS, RESTORE_TOOLS, Flavor, first_on_path, flavor

DEFAULT_CHARSET = "utf8mb4"
#: The comment both mysqldump and mariadb-dump write last, once every table was dumped.
TRAILER = b"-- Dump completed"
#: Arguments that turn the tools' comments (and so the trailer) off.
NO_COMMENTS = frozenset({"--skip-comments", "--compact", "--comments=0", "--comments=false", "--comments=off"})
#: An error the dump tool reported on stderr ("mysqldump: Got error: ...", "mariadb-dump: Error: ...").
_STDERR_ERROR = re.compile(r"(?i)(^|: )(got )?error\b")

#: Counts the rows of every base table of the current database in one consistent snapshot,
#: printing ``table<TAB>rows`` lines (batch mode) after a ``snapshot-ready`` line.
COUNT_SCRIPT = """SET SESSION group_concat_max_len = 4294967295;
SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;
START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;
SELECT 'snapshot-ready';
SELECT GROUP_CONCAT(CONCAT('SELECT ', QUOTE(TABLE_NAME), ', COUNT(*) FROM `', REPLACE(TABLE_NAME, '`', '``'), '`')
  SEPARATOR ' UNION ALL ') INTO @rclone_counts
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE';
SET @rclone_counts = COALESCE(@rclone_counts, 'SELECT 1, 0 FROM DUAL WHERE 0');
PREPARE rclone_counts FROM @rclone_counts;
EXECUTE rclone_counts;
DEALLOCATE PREPARE rclone_counts;
COMMIT;
"""


def _first_line(stream: IO[bytes]) -> bytes:
    """The first line of a pipe, read from its file descriptor a byte at a time: a buffered
    ``readline()`` could also take the lines after it, which ``communicate()`` (reading the
    descriptor itself) would then never see."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(stream.fileno(), 1)
        if not byte:
            break
        line += byte
    return bytes(line)


def parse_counts(text: str) -> dict[str, int]:
    """``table<TAB>rows`` lines of the client's batch output after ``snapshot-ready``."""
    counts: dict[str, int] = {}
    for line in text.partition("snapshot-ready")[2].splitlines():
        table, tab, rows = line.rpartition("\t")
        if tab and rows.strip().isdigit():
            counts[table.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\")] = int(rows)
    return counts


class MysqlDumpConnector(CommandConnector):
    """SQL dumps of one MySQL or MariaDB database.

    Per-alias options (in ``DJANGO_RCLONE["CONNECTORS"][alias]`` or ``DATABASES[alias]``), besides
    the ones every command connector has (``DUMP_CMD``, ``*_PREFIX``, ``*_SUFFIX``, ``*ENV``...):

    - ``SINGLE_TRANSACTION`` (``True``): ``--single-transaction``: a consistent InnoDB snapshot without
      table locks.
    - ``ROUTINES`` (``False``) / ``EVENTS`` (``False``): Include stored procedures and functions /
      scheduled events.
    - ``TRIGGERS`` (``True``): Include triggers (the tools' default); ``False`` adds
      ``--skip-triggers``.
    - ``EXCLUDE`` (``[]``): Table names left out of the backup (``--ignore-table=DB.TABLE``).
    - ``CHARSET`` (``"utf8mb4"``): Character set of the SQL text, for both tools.
    - ``MAX_STATEMENT_TIME`` (none; MariaDB's dump tool only): seconds any one statement of the dump
      may take, waits for locks included (``--max-statement-time``): a dump blocked by another
      session's table lock then fails instead of waiting for the server's ``lock_wait_timeout`` (a
      day by default). Set it above the time the largest table takes to read.

    A dump is accepted only when the tool exited 0, reported no error on stderr, and its output
    ends with the tool's ``-- Dump completed`` line (not checked when ``DUMP_PREFIX``/``DUMP_SUFFIX``
    pass ``--skip-comments`` or ``--compact``, which leave that line out).
    - ``ATOMIC_RESTORE`` (``True``): restore into a shadow database ``<NAME>__rclone_<random>`` and
      swap its tables in with one ``RENAME TABLE`` (see ``django_rclone_mysql.shadow``); the user
      needs the right to create and drop those databases. ``False`` restores straight into the live
      database, statement by statement, after the whole backup was checked against its manifest.
    - ``SWAP_LOCK_TIMEOUT`` (``60``): seconds the atomic swap waits for other sessions' locks on the
      live tables (1 to 300); when they are not released in time the restore fails and nothing is
      changed.
    """

    extension = "sql"
    #: Options ``dbbackup`` may set for one run (``--exclude-tables``); see ``django_rclone.run_options``.
    run_options = frozenset({"EXCLUDE"})
    known_options = frozenset(
        {
            "CHARSET",
            "SINGLE_TRANSACTION",
            "ROUTINES",
            "TRIGGERS",
            "EVENTS",
            "CLIENT",
            "ATOMIC_RESTORE",
            "SWAP_LOCK_TIMEOUT",
            "COUNT_ROWS",
        }
    )
    install_hint = (
        "the MariaDB or MySQL client tools, e.g. `apt-get install mariadb-client` or `apt-get install mysql-client`"
    )

    def __init__(self, database: str = "default", options: Mapping[str, Any] | None = None) -> None:
        super().__init__(database, options)
        self.dump_cmd = first_on_path(DUMP_TOOLS)
        self.restore_cmd = first_on_path(RESTORE_TOOLS)
        self._flavors: dict[str, Flavor] = {}
        self._shadow: Shadow | None = None
        self._restore_proc: subprocess.Popen[bytes] | None = None
        #: A non-atomic restore cannot be stopped before it commits: check the whole stream first.
        self.verify_before_restore = not self.atomic_restore

    @property
    def atomic_restore(self) -> bool:
        """``ATOMIC_RESTORE`` (default ``True``): restore through a shadow database."""
        return self.flag("ATOMIC_RESTORE", True)

    # -- arguments ---------------------------------------------------------------------------
    def exe(self, phase: Phase) -> str:
        """The tool that runs in ``phase`` (``<PHASE>_CMD`` or the one found on PATH)."""
        return str(self.option(f"{phase}_CMD") or (self.dump_cmd if phase == "DUMP" else self.restore_cmd))

    def flavor(self, phase: Phase) -> Flavor:
        """Whether the tool of ``phase`` is MySQL's or MariaDB's (asked only when a flag depends on it)."""
        if phase not in self._flavors:
            self._flavors[phase] = flavor(self.exe(phase), self.environment(phase))
        return self._flavors[phase]

    def credential_args(self) -> list[str]:
        """``--defaults-extra-file=...`` carrying the password (and the user's own option file), or nothing.

        The file is created on each call and removed by ``cleanup()``.
        """
        own_file = str(self.connection_options.get("read_default_file") or "")
        if not self.password:
            return [f"--defaults-extra-file={own_file}"] if own_file else []
        path = self.secret_file("client.cnf", option_file.render(self.password, include=own_file))
        return [f"--defaults-extra-file={path}"]

    def connection_args(self, phase: Phase) -> list[str]:
        """Host/port or socket, user, character set and TLS flags for ``phase``'s tool."""
        return connection_flags(
            host=self.host,
            port=self.port,
            user=self.user,
            charset=str(self.option("CHARSET", DEFAULT_CHARSET)),
            options=self.connection_options,
            flavor=lambda: self.flavor(phase),
        )

    def database_name(self) -> str:
        """``NAME``, required: both tools take the database as their last positional argument."""
        if not self.name:
            raise ImproperlyConfigured(
                f"DATABASES[{self.database!r}]['NAME'] is empty; the MySQL connector needs the database name "
                "(set NAME, or NAME in DJANGO_RCLONE['CONNECTORS'][alias])."
            )
        return self.name

    def excluded(self) -> list[str]:
        """The ``EXCLUDE`` table names, checked (a bare string would silently exclude nothing useful)."""
        value = self.option("EXCLUDE") or []
        if isinstance(value, str) or not all(isinstance(table, str) for table in value):
            raise ImproperlyConfigured(
                f"Connector option EXCLUDE for database {self.database!r} must be a list of table names."
            )
        return list(value)

    def dump_args(self) -> list[str]:
        name = self.database_name()
        args = [*self.credential_args(), *self.connection_args("DUMP"), "--quick", "--no-tablespaces"]
        if self.option("SINGLE_TRANSACTION", True):
            args.append("--single-transaction")
        if self.option("ROUTINES", False):
            args.append("--routines")
        if not self.option("TRIGGERS", True):
            args.append("--skip-triggers")
        if self.option("EVENTS", False):
            args.append("--events")
        args += [f"--ignore-table={name}.{table}" for table in self.excluded()]
        args += self.statement_time_args()
        return [*args, name]

    def statement_time_args(self) -> list[str]:
        """``--max-statement-time=N`` from ``MAX_STATEMENT_TIME`` (MariaDB's dump tool has it, MySQL's not)."""
        seconds = self.seconds("MAX_STATEMENT_TIME")
        if seconds is None:
            return []
        if self.flavor("DUMP") != "mariadb":
            raise ImproperlyConfigured(
                f"Connector option MAX_STATEMENT_TIME for database {self.database!r} needs MariaDB's dump tool "
                f"(mariadb-dump); {self.exe('DUMP')} is MySQL's, which has no --max-statement-time."
            )
        return [f"--max-statement-time={seconds:g}"]

    # -- untrusted input ---------------------------------------------------------------------
    def restore_sandboxed(self) -> bool:
        """Whether the restore client has ``--sandbox`` (MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6 and
        later): it then refuses ``system``/``\\!``, ``source``, ``tee`` and ``pager`` found in a
        backup. Without it the core checks the whole backup against its manifest first."""
        return self.tool_help_mentions("RESTORE", self.exe("RESTORE"), "--sandbox")

    def untrusted_input_args(self) -> list[str]:
        """``--local-infile=0`` (no ``LOAD DATA LOCAL INFILE`` reading this machine's files, even if
        an option file turns it on) and ``--sandbox`` when the restore client has it."""
        return ["--local-infile=0", *(["--sandbox"] if self.restore_sandboxed() else [])]

    def swap_lock_timeout(self) -> int:
        """``SWAP_LOCK_TIMEOUT``: whole seconds from 1 to 300 (default 60)."""
        value = self.option("SWAP_LOCK_TIMEOUT", 60)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 300:
            raise ImproperlyConfigured(
                f"Connector option SWAP_LOCK_TIMEOUT for database {self.database!r} is {value!r}; "
                "use a whole number of seconds from 1 to 300."
            )
        return value

    def restore_target(self) -> str:
        """The database the client restores into: the shadow during an atomic restore, else ``NAME``."""
        return self._shadow.name if self._shadow is not None else self.database_name()

    def restore_args(self) -> list[str]:
        # --one-database: statements after a ``USE other_db`` in a backup are skipped, not run elsewhere.
        return [
            *self.credential_args(),
            *self.untrusted_input_args(),
            *self.connection_args("RESTORE"),
            "--one-database",
            self.restore_target(),
        ]

    # -- atomic restore (see shadow.py) --------------------------------------------------------
    def run_sql(self, script: str, database: str = "") -> list[list[Row]]:
        """Run ``script`` with the restore tool (same credentials, prefix and suffix); return the rows of
        each of its result sets."""
        args = [*self.credential_args(), *self.connection_args("RESTORE"), "--xml", *([database] if database else [])]
        argv = self.command("RESTORE", self.restore_cmd, args)
        return parse_xml(run_client(argv, self.environment("RESTORE"), script))

    def prepare_restore(self) -> None:
        """Create the shadow database (the privilege probe); nothing live is touched."""
        if not self.atomic_restore:
            return
        self._shadow = Shadow(
            live=self.database_name(),
            run=self.run_sql,
            user=self.user,
            alias=self.database,
            lock_timeout=self.swap_lock_timeout(),
        )
        self._shadow.create()

    def restore(self, stdin: StdinSource = None) -> subprocess.Popen[bytes]:
        self._restore_proc = super().restore(stdin)
        return self._restore_proc

    def restore_finished(self) -> None:
        """Swap the shadow in, only when the client restored the whole, verified stream (exit 0)."""
        proc = self._restore_proc
        if self._shadow is None or proc is None or proc.returncode != 0:
            return
        self._shadow.swap()

    def cleanup(self) -> None:
        """Drop the shadow database (on every path), then remove the option files."""
        if self._shadow is not None:
            self._shadow.drop()
            self._shadow = None
        session, self._count_session = self._count_session, None
        if session is not None and session.poll() is None:
            session.kill()
            session.communicate()
        self._restore_proc = None
        super().cleanup()

    # -- progress ----------------------------------------------------------------------------
    def estimated_size(self) -> int | None:
        """Data and index bytes of the database's tables from ``information_schema`` (one client
        call, at most 10 s), or ``None``. InnoDB's figures are themselves approximate."""
        sql = (
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
            "WHERE table_schema = DATABASE()"
        )
        try:
            argv = [
                self.exe("RESTORE"),
                *self.credential_args(),
                *self.connection_args("RESTORE"),
                "--batch",
                "--skip-column-names",
                "-e",
                sql,
                self.database_name(),
            ]
            done = subprocess.run(
                argv, env=self.environment("RESTORE"), stdin=subprocess.DEVNULL, capture_output=True, timeout=10
            )
            return int(done.stdout.strip()) if done.returncode == 0 else None
        except (OSError, subprocess.SubprocessError, ValueError, ImproperlyConfigured):
            return None

    # -- completeness ------------------------------------------------------------------------
    def comments_disabled(self) -> bool:
        """Whether ``DUMP_PREFIX``/``DUMP_SUFFIX`` turn the dump's comments off (no trailer to check)."""
        words = [*self.words("DUMP_PREFIX"), *self.words("DUMP_SUFFIX")]
        return any(word.lower() in NO_COMMENTS for word in words)

    def check_dump(self, sample: StreamSample) -> None:
        """An error on the tool's stderr fails the backup; so does a dump without the tool's
        ``-- Dump completed`` trailer, unless ``DUMP_SUFFIX`` turned comments off."""
        errors = [line.strip() for line in sample.stderr.splitlines() if _STDERR_ERROR.search(line)]
        if errors:
            raise IncompleteDump(f"it reported an error: {errors[0]}")
        if self.comments_disabled():
            return
        tail = sample.tail.rstrip()
        last_line = tail[tail.rfind(b"\n") + 1 :]
        if not last_line.startswith(TRAILER):
            ending = last_line[-80:].decode(errors="replace") if last_line else "nothing"
            raise IncompleteDump(
                f"its output does not end with the tool's '-- Dump completed' line (it ends with {ending!r}, "
                f"{sample.size} bytes); if an option file sets skip-comments, remove it or pass --skip-comments "
                "in DUMP_SUFFIX"
            )

    # -- table counts and restore drills --------------------------------------------------------
    _count_session: subprocess.Popen[bytes] | None = None
    _drill_shadow: Shadow | None = None

    def count_argv(self, database: str) -> list[str]:
        """The client in batch mode, unbuffered (each result is read as soon as it is printed)."""
        args = [*self.credential_args(), *self.connection_args("RESTORE"), "--batch", "--skip-column-names"]
        return self.command("RESTORE", self.restore_cmd, [*args, "--unbuffered", database])

    def dump(self) -> subprocess.Popen[bytes]:
        """With ``COUNT_ROWS`` (default on), first open a session that starts a consistent snapshot
        and counts every base table's rows in it, then start mysqldump (whose own
        ``--single-transaction`` snapshot begins a moment later: MariaDB and MySQL cannot share a
        snapshot between sessions, so a write committed in that moment can make a count differ)."""
        if self.flag("COUNT_ROWS", True):
            session = self.spawn(
                self.count_argv(self.database_name()), self.environment("RESTORE"), stdin=subprocess.PIPE
            )
            self._count_session = session
            assert session.stdin is not None
            assert session.stdout is not None
            try:
                session.stdin.write(COUNT_SCRIPT.encode())
                session.stdin.close()
            except BrokenPipeError:  # the client already exited (it could not connect): its stderr says why
                with contextlib.suppress(OSError):
                    session.stdin.close()
            session.stdin = None  # written in full (or not wanted); communicate() must not flush it again
            first = _first_line(session.stdout)
            if b"snapshot-ready" not in first:
                session.wait()
                detail = session.stderr.read().decode(errors="replace").strip() if session.stderr else ""
                raise AtomicRestoreError(
                    f"counting the rows of database {self.database!r} could not start: {detail or 'no output'}. "
                    "Set COUNT_ROWS: False for this alias to back up without table counts"
                )
        return super().dump()

    def dump_finished(self) -> dict[str, Any]:
        session, self._count_session = self._count_session, None
        if session is None:
            return {}
        out, err = session.communicate()
        if session.returncode != 0:
            raise AtomicRestoreError(
                f"counting the rows of database {self.database!r} failed: {err.decode(errors='replace').strip()}. "
                "Set COUNT_ROWS: False for this alias to back up without table counts"
            )
        excluded = set(self.excluded())
        counts = parse_counts("snapshot-ready\n" + out.decode(errors="replace"))
        return {self.TABLE_COUNTS: {t: n for t, n in counts.items() if t not in excluded}}

    def drill_target(self) -> BaseConnector:
        """A scratch database ``<NAME>__rclone_<random>`` made by the shadow machinery (same
        character set, the same privilege probe, dropped by ``Shadow.drop()``), restored straight
        into (``ATOMIC_RESTORE`` off for the scratch copy)."""
        shadow = Shadow(
            live=self.database_name(),
            run=self.run_sql,
            user=self.user,
            alias=self.database,
            lock_timeout=self.swap_lock_timeout(),
            token=secrets.token_hex(4),
        )
        scratch = self.scratch_copy(NAME=shadow.name, ATOMIC_RESTORE=False)
        assert isinstance(scratch, MysqlDumpConnector)
        scratch._drill_shadow = shadow
        scratch._shadow = None
        scratch._flavors = dict(self._flavors)
        return scratch

    def create_scratch(self) -> None:
        if self._drill_shadow is not None:
            self._drill_shadow.create()

    def drop_scratch(self) -> None:
        if self._drill_shadow is not None:
            self._drill_shadow.drop()
            if self._drill_shadow.created:
                raise AtomicRestoreError(
                    f"the drill's scratch database {self._drill_shadow.name!r} could not be dropped"
                )

    def table_counts(self) -> dict[str, int]:
        out = run_client(self.count_argv(self.database_name()), self.environment("RESTORE"), COUNT_SCRIPT)
        return parse_counts(out)

    # -- manifest ----------------------------------------------------------------------------
    def tool_versions(self) -> dict[str, str]:
        phases: tuple[Phase, ...] = ("DUMP", "RESTORE")
        return {os.path.basename(self.exe(phase)): self.tool_version(phase, self.exe(phase)) for phase in phases}
