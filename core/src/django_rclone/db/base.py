"""Base classes for database connectors.

A connector turns one Django database alias into processes: ``dump()`` starts a process whose stdout
carries the backup, ``restore(stdin)`` starts a process that reads a backup from ``stdin``. Connectors
start processes and never wait on them: the core's pipeline wires pipes, drains stderr, reads exit
codes and cleans up on failure.

``BaseConnector`` is the minimal contract (the 0.1.0 custom-connector example subclasses it).
``CommandConnector`` adds what every command-line connector shares: tool paths, prefixes and
suffixes, environment handling and password-free argv.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO, Any, Literal

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from django_rclone.exceptions import DjangoRcloneError, IncompleteDump
from django_rclone.sample import StreamSample

StdinSource = IO[bytes] | int | None
Phase = Literal["DUMP", "RESTORE"]

#: Option values ``BaseConnector.flag()`` reads as false.
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})

#: Keys of a per-alias options dict that override the matching DATABASES keys.
CONNECTION_KEYS = ("NAME", "USER", "PASSWORD", "HOST", "PORT")

#: Per-alias option keys every connector understands: the DATABASES keys and the core's command
#: options. An unknown key close to one of these (or to a connector's ``known_options``) is a typo.
COMMON_OPTIONS = frozenset(
    {
        *CONNECTION_KEYS,
        "ENGINE",
        "OPTIONS",
        "TEST",
        "ATOMIC_REQUESTS",
        "AUTOCOMMIT",
        "CONN_MAX_AGE",
        "CONN_HEALTH_CHECKS",
        "TIME_ZONE",
        "DISABLE_SERVER_SIDE_CURSORS",
        "CONNECTOR",
        "DUMP_CMD",
        "RESTORE_CMD",
        "DUMP_PREFIX",
        "RESTORE_PREFIX",
        "DUMP_SUFFIX",
        "RESTORE_SUFFIX",
        "ENV",
        "DUMP_ENV",
        "RESTORE_ENV",
        "USE_PARENT_ENV",
        "EXCLUDE",
        "EXTENSION",
    }
)
#: How alike an unknown key must be to a known one to be reported as its typo (difflib ratio).
TYPO_CUTOFF = 0.8


def database_settings(database: str) -> dict[str, Any]:
    """A copy of ``DATABASES[database]``; ``ImproperlyConfigured`` naming the known aliases if absent."""
    databases: Mapping[str, Any] = django_settings.DATABASES
    if database not in databases:
        known = ", ".join(sorted(databases)) or "none"
        raise ImproperlyConfigured(f"Database alias {database!r} is not in DATABASES (known: {known}).")
    return dict(databases[database])


class RestoreGuard:
    """Sees a backup on its way from the remote into the restore tool (``BaseConnector.restore_guard()``).

    The core writes ``start()`` to the tool before any byte of the backup (e.g. a command that puts
    the tool into a restricted mode), passes every chunk through ``feed()`` and writes what it
    returns, and writes ``finish()`` after the last chunk, only once the stream matched its
    manifest. ``feed()`` raises ``UnsafeBackup`` to stop the restore before the tool receives the
    offending bytes. This base class passes everything through unchanged.
    """

    def start(self) -> bytes:
        """Bytes written to the restore tool before the backup."""
        return b""

    def feed(self, chunk: memoryview) -> bytes | memoryview:
        """What to write for ``chunk`` (return ``chunk`` itself when unchanged: no copy).

        ``chunk`` is only valid during the call; keep a copy of anything held back.
        """
        return chunk

    def finish(self) -> bytes:
        """Bytes written after the last chunk (e.g. what ``feed()`` held back)."""
        return b""


class BaseConnector:
    """Dump and restore one database alias with native tools.

    ``settings`` is ``DATABASES[database]`` overlaid with the per-alias options from
    ``DJANGO_RCLONE["CONNECTORS"][database]`` (when that entry is a dict), so a backup can use a
    replica or a dedicated role without touching ``DATABASES``.
    """

    #: File extension of the backup, without the dot.
    extension: str = "dump"

    #: ``True`` when the dump tool compresses its output itself (pg_dump's custom format with a
    #: ``COMPRESSION`` option): the core then stores the dump as it is instead of spending CPU
    #: compressing it again, and names it without a codec extension. Read before ``dump()``;
    #: a subclass may set it per instance in ``__init__``.
    output_compressed: bool = False

    #: The codec the core's compression stage applies to this connector's dump (``"zstd"``,
    #: ``"gzip"``, or ``"none"`` when the dump is stored as it is), set by the core before it calls
    #: ``dump()``. A tool that can compress on its own should turn that off when this is not
    #: ``"none"`` (the PostgreSQL connector passes ``--compress=0`` to pg_dump).
    stage_compression: str = "none"

    #: Per-alias options this connector cannot honour, with the reason. Setting one is an error
    #: rather than silently ignored: an ``EXCLUDE`` that does nothing would surprise a user moving
    #: from a connector that supports it.
    unsupported_options: Mapping[str, str] = {}

    #: Per-alias option keys this connector reads besides ``COMMON_OPTIONS`` (and its
    #: ``run_options``). A key in ``DJANGO_RCLONE["CONNECTORS"][alias]`` that is not known but
    #: looks like a known one (``CONECTOR``, ``SINGLE_TRANSACTON``) is refused as a typo; other
    #: unknown keys pass, so options a subclass reads without declaring them keep working.
    known_options: frozenset[str] = frozenset()

    def __init__(self, database: str = "default", options: Mapping[str, Any] | None = None) -> None:
        self.database = database
        self.options: dict[str, Any] = dict(options or {})
        self.settings: dict[str, Any] = {**database_settings(database), **self.options}
        self._private_dirs: list[str] = []
        for key, reason in self.unsupported_options.items():
            if self.settings.get(key) not in (None, "", [], ()):
                raise ImproperlyConfigured(
                    f"{type(self).__name__} does not support the {key} option (database {database!r}): "
                    f"{reason}. Remove {key} from DJANGO_RCLONE['CONNECTORS'][{database!r}]."
                )
        self._refuse_typos()

    def _refuse_typos(self) -> None:
        known = COMMON_OPTIONS | self.known_options | frozenset(self.unsupported_options)
        known |= frozenset(getattr(self, "run_options", ()))
        for key in self.options:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key).upper(), sorted(known), n=1, cutoff=TYPO_CUTOFF)
            if close:
                raise ImproperlyConfigured(
                    f"DJANGO_RCLONE['CONNECTORS'][{self.database!r}] has the unknown option {key!r}; "
                    f"did you mean {close[0]!r}?"
                )

    # -- connection details ------------------------------------------------------------------
    def option(self, key: str, default: Any = None) -> Any:
        """Return a setting for this alias: per-alias option first, then DATABASES, then ``default``."""
        value = self.settings.get(key)
        return default if value is None else value

    def seconds(self, key: str, default: float | None = None, *, zero_ok: bool = False) -> float | None:
        """A duration option in seconds: ``None`` when unset (and no ``default``), else a number above 0
        (0 or more with ``zero_ok``); anything else is ``ImproperlyConfigured`` naming the option."""
        value = self.option(key, default)
        if value is None or value == "":
            return None
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = -1.0
        if isinstance(value, bool) or not (seconds >= 0 if zero_ok else seconds > 0):
            raise ImproperlyConfigured(
                f"Connector option {key} for database {self.database!r} must be a number of seconds "
                f"{'>= 0' if zero_ok else '> 0'}, got {value!r}."
            )
        return seconds

    def flag(self, key: str, default: bool) -> bool:
        """A boolean option; strings such as ``"false"``, ``"0"``, ``"no"`` or ``"off"`` count as false
        (settings read from the environment are strings)."""
        value = self.option(key, default)
        if isinstance(value, str):
            return value.strip().lower() not in _FALSE_WORDS
        return bool(value)

    @property
    def engine(self) -> str:
        return str(self.settings.get("ENGINE", ""))

    @property
    def name(self) -> str:
        return str(self.settings.get("NAME") or "")

    @property
    def host(self) -> str:
        return str(self.settings.get("HOST") or "")

    @property
    def port(self) -> str:
        return str(self.settings.get("PORT") or "")

    @property
    def user(self) -> str:
        return str(self.settings.get("USER") or "")

    @property
    def password(self) -> str:
        return str(self.settings.get("PASSWORD") or "")

    @property
    def connection_options(self) -> dict[str, Any]:
        """``DATABASES[alias]["OPTIONS"]`` (driver options such as sslmode)."""
        return dict(self.settings.get("OPTIONS") or {})

    # -- the contract ------------------------------------------------------------------------
    def dump(self) -> subprocess.Popen[bytes]:
        """Start the dump process; its stdout must be a pipe that yields the backup bytes."""
        raise NotImplementedError(f"{type(self).__name__} does not implement dump()")

    def restore(self, stdin: StdinSource = None) -> subprocess.Popen[bytes]:
        """Start the restore process reading the backup from ``stdin``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement restore()")

    #: Stream the whole backup through its checksum before restoring it. For connectors whose
    #: restore cannot be stopped before it commits (the core then reads the object twice). May be
    #: set per instance (the MySQL connector does, from its ``ATOMIC_RESTORE`` option).
    verify_before_restore: bool = False

    #: ``True`` when the restore tool, as this connector starts it, cannot run shell or file commands
    #: found in a backup: a binary format with no commands (pg_restore's archives, mongorestore's),
    #: or a text format fed to a tool in a guarded mode (``sqlite3 -safe``, ``mariadb --sandbox``,
    #: psql's ``\\restrict``). Read through ``restore_sandboxed()``, which may decide at run time.
    sandboxed: bool = False

    def restore_sandboxed(self) -> bool:
        """Whether the restore tool cannot execute commands from its input (default: ``sandboxed``).

        A backup is untrusted input: whoever can write the remote can write it. When this returns
        ``False`` (the default for third-party connectors), the core streams the whole backup
        through its checksum before the restore tool receives a byte, and says so in a warning, so
        a damaged backup never reaches a tool that could act on it. Override it to check the
        installed tool (a version, a ``--help`` flag); it must not connect anywhere.
        """
        return self.sandboxed

    def restore_guard(self) -> RestoreGuard | None:
        """A ``RestoreGuard`` the core puts between the remote and the restore tool, or ``None``.

        Called once per restore, after ``restore_sandboxed()``, before the tool starts.
        """
        return None

    def prepare_restore(self) -> None:
        """Run before a restore starts streaming (e.g. create an extension, or a scratch database to
        restore into). Raise to abort: nothing has been streamed yet. Default: nothing."""

    def check_dump(self, sample: StreamSample) -> None:
        """Check that a dump which exited 0 is complete; raise ``IncompleteDump`` with the reason if not.

        Called by the core once the dump process exited 0, before ``rclone rcat`` receives the end
        of the stream and before any manifest is written: raising here stops the upload, deletes
        whatever arrived and fails the backup, so nothing is listed. ``sample`` holds the first
        bytes (``sample.head``, up to 4 MiB; ``sample.whole`` says whether that is all of it), the
        last 64 KiB (``sample.tail``), the total ``sample.size`` of the raw dump bytes, the
        tool's stderr (``sample.stderr``, its last 64 KiB) and every stderr line matching
        ``dump_report`` (``sample.stderr_lines``). Check what your format allows: a
        trailer the tool writes last, a table of contents at the start, an error message that
        the tool prints but does not reflect in its exit status. Default: nothing to check.
        """

    #: A regular expression (``re.search``, on each decoded line) for the lines of the dump tool's
    #: stderr this connector reads in ``check_dump()``: the core keeps every matching line, however
    #: long the stderr (``sample.stderr`` holds only its end), and passes them in order as
    #: ``sample.stderr_lines`` (``None`` when more than 16 MiB of them matched and some were
    #: dropped). E.g. a tool's per-table "done" lines, read for the table counts. Default: none.
    dump_report: str = ""

    def dump_finished(self) -> dict[str, Any]:
        """Called once the dump exited 0 and every byte was uploaded, before the manifest is written.

        Return extra metadata for the manifest (its ``metadata`` field); raise to fail the backup.
        """
        return {}

    @staticmethod
    def require_tail(sample: StreamSample, trailer: bytes, what: str) -> None:
        """Raise ``IncompleteDump`` unless the stream ends with ``trailer`` (trailing whitespace ignored).

        ``what`` names the trailer in the message (``"the dump's final COMMIT;"``).
        """
        tail = sample.tail.rstrip()
        if not tail.endswith(trailer):
            last = tail[-80:].decode(errors="replace").splitlines()[-1:] if tail else []
            ending = f"it ends with {last[0]!r}" if last else "it is empty"
            raise IncompleteDump(f"its output does not end with {what} ({ending}, {sample.size} bytes)")

    def restore_finished(self) -> None:
        """Called once the restore process ended, whether it exited 0 or failed (or was stopped by the
        core). A connector that restores somewhere else first commits here, and only when its own
        process exited 0 (keep the ``Popen`` from ``restore()``). Raise to fail the restore."""

    def tool_versions(self) -> dict[str, str]:
        """Versions of the tools this connector runs, recorded in the backup's manifest."""
        return {}

    def database_exists(self) -> bool | None:
        """Whether the database exists at all (``None``, the default: unknown).

        ``dbrestore`` skips its undo backup, with a warning, when this is ``False``: restoring onto a
        new machine has nothing to undo, and a backup of a missing database would fail and block
        the restore. Must be quick and read-only.
        """
        return None

    def estimated_size(self) -> int | None:
        """The database's size in bytes as the engine reports it, or ``None`` (the default) when unknown.

        Only the progress line uses it, as an estimate of the backup's size (shown as one: a
        compressed dump is smaller, SQL text can be larger). Called once before a dump; it must be
        quick, read-only and never raise (return ``None`` instead).
        """
        return None

    def tool_label(self, phase: Phase) -> str:
        """The name errors give this connector's process for ``phase`` (``"DUMP"`` or ``"RESTORE"``).

        A failing process is reported as ``<label> (dump of database 'alias')``. Return "" (the
        default) and the core uses ``DUMP_CMD`` / ``RESTORE_CMD`` (or ``dump_cmd`` / ``restore_cmd``)
        for a ``CommandConnector``, else the program the process runs. Override it when the process
        is a helper (``python -m ...``) so the error names the tool the user knows.
        """
        return ""

    # -- restore drills ----------------------------------------------------------------------
    #: Key of the manifest ``metadata`` entry holding the row count of every table at backup time
    #: (``{"table": rows}``), returned by ``dump_finished()`` of connectors that can drill.
    TABLE_COUNTS = "table_counts"

    def drill_target(self) -> BaseConnector:
        """A connector for a new scratch database on the same server, for a restore drill.

        Must not touch any database: only pick a name that no live database uses (e.g.
        ``<name>_drill_<random>``) and return a copy of this connector pointing at it (see
        ``scratch_copy()``). The core then calls, on the returned connector: ``create_scratch()``,
        the ordinary ``prepare_restore()`` / ``restore()`` / ``restore_finished()``,
        ``table_counts()``, and on every path (success, mismatch, failure, SIGINT)
        ``drop_scratch()`` and ``cleanup()``. The default raises ``DrillNotSupported``: a
        connector that cannot restore anywhere but the live database does not drill.
        """
        raise DrillNotSupported(f"restore drills are not supported by {type(self).__name__}")

    @property
    def supports_drill(self) -> bool:
        """Whether this connector overrides ``drill_target()``."""
        return type(self).drill_target is not BaseConnector.drill_target

    def scratch_copy(self, **settings: Any) -> BaseConnector:
        """A shallow copy of this connector with ``settings`` (e.g. ``NAME``) overriding its own,
        and no private files of its own; a helper for ``drill_target()``."""
        clone = copy.copy(self)
        clone.settings = {**self.settings, **settings}
        clone.options = {**self.options, **settings}
        clone._private_dirs = []
        return clone

    def create_scratch(self) -> None:
        """Create the (empty) scratch database this drill connector points at. Default: nothing
        (the restore creates it, e.g. a SQLite file)."""

    def drop_scratch(self) -> None:
        """Remove the scratch database this drill connector points at, if it exists (also when
        ``create_scratch()`` failed or never ran). Called with SIGINT/SIGTERM ignored; raise only if
        it could not be removed (the core reports it and names it)."""

    def table_counts(self) -> dict[str, int]:
        """Row count of every table of the database this connector points at, by the same names
        ``dump_finished()`` records under ``TABLE_COUNTS``. Default: ``DrillNotSupported``."""
        raise DrillNotSupported(f"{type(self).__name__} cannot count table rows")

    def cleanup(self) -> None:
        """Called by the core once every process of a backup or restore has ended, on every path
        (success, failure, interruption), with SIGINT/SIGTERM ignored while it runs. Remove scratch
        resources here (call ``super().cleanup()``); must not raise. Removes the private files made
        by ``secret_file()``."""
        for folder in self._private_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self._private_dirs.clear()

    def secret_file(self, filename: str, content: str) -> str:
        """Write ``content`` to a new 0600 file in a private 0700 temporary folder; return its path.

        For tools that read credentials from a file (option files, YAML configs). The folder is
        removed by ``cleanup()``, which the core calls when the processes have ended.
        """
        folder = tempfile.mkdtemp(prefix="django-rclone-")
        self._private_dirs.append(folder)
        path = os.path.join(folder, filename)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        return path

    def required_tools(self) -> dict[str, str]:
        """Programs this connector starts, by the option that names them (``{"DUMP_CMD": "pg_dump"}``).

        Used by the system checks to report a tool missing from ``PATH`` before a backup fails.
        Must not run anything or connect anywhere. Default: none (a connector that runs no program).
        """
        return {}

    def tool_search_path(self, option: str) -> str | None:
        """The ``PATH`` a tool named by ``option`` is looked up in (``None``: this process's PATH)."""
        return None

    @classmethod
    def dotted_path(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} database={self.database!r}>"


class DrillNotSupported(DjangoRcloneError):
    """The connector cannot restore into a scratch database or count its rows."""


class ToolNotFound(DjangoRcloneError):
    """A connector's command-line tool is not installed or not on PATH."""


class CommandConnector(BaseConnector):
    """A connector that runs command-line tools (pg_dump, mysqldump, sqlite3, mongodump...).

    Subclasses set ``dump_cmd`` / ``restore_cmd`` and implement ``dump_args()`` /
    ``restore_args()``; secrets go in ``secret_env()``, never in argv. Per-alias options honoured
    for every subclass (django-dbbackup names):

    - ``DUMP_CMD`` / ``RESTORE_CMD``: Path or name of the tool, replacing ``dump_cmd`` /
      ``restore_cmd``.
    - ``DUMP_PREFIX`` / ``RESTORE_PREFIX``: Words placed before the tool (``"nice -n 19"``), split with
      shell rules, never run by a shell.
    - ``DUMP_SUFFIX`` / ``RESTORE_SUFFIX``: Extra arguments placed after the tool's own arguments.
    - ``ENV``, ``DUMP_ENV`` / ``RESTORE_ENV``: Environment variables for both phases / for one phase.
    - ``USE_PARENT_ENV``: Start from this process's environment (default ``True``, keeps ``PATH``).
    """

    dump_cmd: str = ""
    restore_cmd: str = ""
    #: What to install when a tool is missing, shown in the error.
    install_hint: str = ""

    def dump_args(self) -> list[str]:
        """Arguments after the dump tool (no secrets)."""
        raise NotImplementedError

    def restore_args(self) -> list[str]:
        """Arguments after the restore tool (no secrets)."""
        raise NotImplementedError

    def secret_env(self) -> dict[str, str]:
        """Environment variables that carry credentials (``PGPASSWORD``, ``MYSQL_PWD``...)."""
        return {}

    # -- argv and environment ------------------------------------------------------------------
    def words(self, key: str) -> list[str]:
        value = self.option(key)
        if not value:
            return []
        if isinstance(value, str):
            return shlex.split(value)
        if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ImproperlyConfigured(
            f"Connector option {key} for database {self.database!r} must be a string or a list of strings."
        )

    def command(self, phase: Phase, tool: str, args: Sequence[str]) -> list[str]:
        """Build ``PREFIX + tool + args + SUFFIX`` for a phase; ``<PHASE>_CMD`` replaces the tool."""
        exe = str(self.option(f"{phase}_CMD") or tool)
        return [*self.words(f"{phase}_PREFIX"), exe, *args, *self.words(f"{phase}_SUFFIX")]

    def environment(self, phase: Phase, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Child environment: parent (unless USE_PARENT_ENV is false), secrets, extra, ENV, <PHASE>_ENV."""
        env: dict[str, str] = dict(os.environ) if self.option("USE_PARENT_ENV", True) else {}
        env.update(self.secret_env())
        env.update(extra or {})
        for key in ("ENV", f"{phase}_ENV"):
            value = self.option(key) or {}
            if not isinstance(value, Mapping):
                raise ImproperlyConfigured(f"Connector option {key} for database {self.database!r} must be a dict.")
            env.update({str(k): str(v) for k, v in value.items()})
        return env

    def required_tools(self) -> dict[str, str]:
        """``DUMP_CMD`` / ``RESTORE_CMD`` (or the class defaults) and the first word of each prefix."""
        tools: dict[str, str] = {}
        for phase, default in (("DUMP", self.dump_cmd), ("RESTORE", self.restore_cmd)):
            prefix = self.words(f"{phase}_PREFIX")
            if prefix:
                tools[f"{phase}_PREFIX"] = prefix[0]
            exe = str(self.option(f"{phase}_CMD") or default)
            if exe:
                tools[f"{phase}_CMD"] = exe
        return tools

    def tool_search_path(self, option: str) -> str | None:
        """``PATH`` from ``ENV`` / ``<PHASE>_ENV`` when set there, else this process's (or none at all
        when ``USE_PARENT_ENV`` is false, as ``environment()`` would start the tool)."""
        phase = option.split("_", 1)[0]
        path: str | None = None if self.option("USE_PARENT_ENV", True) else ""
        for key in ("ENV", f"{phase}_ENV"):
            value = self.option(key) or {}
            if isinstance(value, Mapping) and "PATH" in value:
                path = str(value["PATH"])
        return path

    def dump_argv(self) -> list[str]:
        return self.command("DUMP", self.dump_cmd, self.dump_args())

    def restore_argv(self) -> list[str]:
        return self.command("RESTORE", self.restore_cmd, self.restore_args())

    # -- processes ----------------------------------------------------------------------------
    def spawn(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        stdin: StdinSource = subprocess.DEVNULL,
        stdout: int | IO[bytes] | None = subprocess.PIPE,
    ) -> subprocess.Popen[bytes]:
        """Start one tool with stderr piped, in its own session so terminal signals reach only us."""
        try:
            return subprocess.Popen(
                list(argv),
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.PIPE,
                env=dict(env),
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            hint = f" ({self.install_hint})" if self.install_hint else ""
            raise ToolNotFound(
                f"{argv[0]!r} was not found for database {self.database!r}{hint}; "
                f"install it or point the connector's *_CMD option at it."
            ) from exc

    def dump(self) -> subprocess.Popen[bytes]:
        return self.spawn(self.dump_argv(), self.environment("DUMP"))

    def restore(self, stdin: StdinSource = None) -> subprocess.Popen[bytes]:
        return self.spawn(self.restore_argv(), self.environment("RESTORE"), stdin=stdin, stdout=subprocess.DEVNULL)

    def tool_help_mentions(self, phase: Phase, tool: str, option: str, help_flag: str = "--help") -> bool:
        """Whether ``tool help_flag`` (run as ``tool_version`` runs it) lists ``option``, e.g. whether
        the installed client has ``--sandbox``; ``False`` when the tool cannot run. Cached per call
        arguments for the life of the connector."""
        cache: dict[tuple[str, str, str, str], bool] = self.__dict__.setdefault("_help_cache", {})
        exe = str(self.option(f"{phase}_CMD") or tool)
        key = (exe, phase, option, help_flag)
        if key not in cache:
            try:
                done = subprocess.run(
                    [exe, help_flag],
                    capture_output=True,
                    timeout=10,
                    env=self.environment(phase),
                    stdin=subprocess.DEVNULL,
                )
            except (OSError, subprocess.SubprocessError):
                cache[key] = False
            else:
                text = (done.stdout + done.stderr).decode(errors="replace")
                cache[key] = re.search(rf"(^|\s){re.escape(option)}(\s|=|\[|,|$)", text, re.MULTILINE) is not None
        return cache[key]

    def tool_version(self, phase: Phase, tool: str, flag: str = "--version") -> str:
        """First line of ``tool --version`` (run without prefix/suffix), or "" when it cannot run."""
        exe = str(self.option(f"{phase}_CMD") or tool)
        try:
            done = subprocess.run([exe, flag], capture_output=True, timeout=10, env=self.environment(phase))
        except (OSError, subprocess.SubprocessError):
            return ""
        text = (done.stdout or done.stderr).decode(errors="replace").strip()
        return text.splitlines()[0] if text else ""
