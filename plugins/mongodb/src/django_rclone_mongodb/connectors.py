"""MongoDB connector: ``mongodump --archive`` to stdout, ``mongorestore --archive`` from stdin.

The archive format is a single stream, so a backup goes straight from mongodump into
``rclone rcat`` and back from ``rclone cat`` into mongorestore, without a dump folder on disk.

Credentials never reach argv: the password, and a ``mongodb://`` / ``mongodb+srv://`` connection
string (which may embed one), go into the tools' YAML ``--config`` file, written 0600 in a private
folder that the core removes (``cleanup()``) once the processes have ended.
"""

from __future__ import annotations

import zlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_rclone.db.base import CommandConnector
from django_rclone.exceptions import IncompleteDump
from django_rclone.sample import StreamSample
from django_rclone_mongodb import address, yaml_config

CONFIG_FILENAME = "mongo-tools.yaml"
#: A ``--archive`` stream starts with this magic number (0x8199e26d, little-endian) ...
ARCHIVE_MAGIC = (0x8199E26D).to_bytes(4, "little")
#: ... and mongodump ends it with a terminator (int32 -1) after the last namespace's end block.
ARCHIVE_TERMINATOR = b"\xff\xff\xff\xff"
#: ``--gzip`` with ``--archive`` compresses the whole stream.
GZIP_MAGIC = b"\x1f\x8b"


def _escape_pattern(name: str) -> str:
    """A database name as a literal in a mongorestore namespace pattern (``*`` and ``\\`` escaped)."""
    return name.replace("\\", "\\\\").replace("*", "\\*")


class MongoDumpConnector(CommandConnector):
    """Back up one MongoDB database with mongodump and restore it with mongorestore.

    Connection details come from the alias's settings (per-alias options first, then ``DATABASES``):
    ``NAME``, ``HOST`` (a host, a seed list, or a connection-string URI), ``PORT``, ``USER``,
    ``PASSWORD``; djongo's ``CLIENT`` dict (``host``, ``port``, ``username``, ``password``,
    ``authSource``, ``authMechanism``) fills in whatever those leave empty.

    Options:

    - ``AUTH_SOURCE``: Database holding the user's credentials (``--authenticationDatabase``). Also read
      from ``OPTIONS["AUTH_SOURCE"]``, ``OPTIONS["authSource"]`` or djongo's ``CLIENT["authSource"]``.
    - ``AUTH_MECHANISM``: ``--authenticationMechanism`` (e.g. ``SCRAM-SHA-256``); also
      ``OPTIONS["authMechanism"]``.
    - ``OBJECT_CHECK`` (default ``True``): Validate every document before inserting it (``--objcheck``).
    - ``DROP`` (default ``True``): Drop each collection before restoring it (``--drop``), so a restore
      replaces the data.
    - ``SOURCE_NAME``: Name of the database inside the archive when it differs from ``NAME`` (restoring
      a production backup into a staging database): the restore renames it with ``--nsFrom``/``--nsTo``.
    - ``EXCLUDE`` (``[]``): collection names to leave out: mongodump gets
      ``--excludeCollection=NAME`` for each, and mongorestore ``--nsExclude=<db>.NAME``, so a
      restore neither drops nor overwrites them (even from an archive made before the exclusion was
      set). ``dbbackup --exclude-tables`` sets it for one run.

    A restore only touches the alias's own database: mongorestore gets ``--nsInclude=<db>.*``.
    mongorestore commits collection by collection (``--drop`` is per collection), so the whole
    archive is checked against its manifest before mongorestore receives a byte
    (``verify_before_restore``): a damaged or cut download never starts a restore.
    """

    #: mongorestore applies the archive as it reads it; a stopped restore cannot be rolled back.
    verify_before_restore = True
    extension = "archive"
    known_options = frozenset({"SOURCE_NAME", "AUTH_SOURCE", "AUTH_MECHANISM", "DROP", "OBJECT_CHECK"})
    #: mongorestore reads a BSON archive of documents; it has no client-side commands to run.
    sandboxed = True
    dump_cmd = "mongodump"
    restore_cmd = "mongorestore"
    install_hint = "the MongoDB Database Tools (package mongodb-database-tools)"
    run_options = frozenset({"EXCLUDE"})

    # -- connection details ------------------------------------------------------------------
    @property
    def client(self) -> dict[str, Any]:
        """djongo's ``CLIENT`` dict (pymongo keyword arguments), or {}."""
        value = self.settings.get("CLIENT") or {}
        return dict(value) if isinstance(value, dict) else {}

    def _from_client(self, own: str, *client_keys: str) -> str:
        if own:
            return own
        client = self.client
        for key in client_keys:
            if client.get(key) not in (None, ""):
                return str(client[key])
        return ""

    @property
    def host(self) -> str:
        return self._from_client(super().host, "host")

    @property
    def port(self) -> str:
        return self._from_client(super().port, "port")

    @property
    def user(self) -> str:
        return self._from_client(super().user, "username", "user")

    @property
    def password(self) -> str:
        return self._from_client(super().password, "password")

    @property
    def uri(self) -> str:
        """The connection string when ``HOST`` is one, else ""."""
        host = self.host
        return host.strip() if address.is_uri(host) else ""

    def _lookup(self, key: str, *aliases: str) -> str:
        """A setting from the options/DATABASES, then OPTIONS, then djongo's CLIENT."""
        value = self.option(key)
        if value not in (None, ""):
            return str(value)
        options = self.connection_options
        for name in (key, *aliases):
            if options.get(name) not in (None, ""):
                return str(options[name])
        return self._from_client("", *aliases)

    @property
    def auth_source(self) -> str:
        return self._lookup("AUTH_SOURCE", "authSource", "authsource")

    @property
    def auth_mechanism(self) -> str:
        return self._lookup("AUTH_MECHANISM", "authMechanism", "authmechanism")

    @property
    def database_name(self) -> str:
        """``NAME``, or the database in a URI ``HOST`` when ``NAME`` is empty."""
        name = self.name or address.uri_database(self.uri)
        if not name:
            raise ImproperlyConfigured(
                f"Database {self.database!r} has no NAME: set DATABASES[{self.database!r}]['NAME'] "
                "(the MongoDB database to back up)."
            )
        return name

    # -- argv --------------------------------------------------------------------------------
    def config_file(self) -> str:
        """Write the tools' YAML config (password and URI) to a private 0600 file; "" if not needed."""
        try:
            content = yaml_config.render({"password": self.password, "uri": self.uri})
        except ValueError as exc:
            raise ImproperlyConfigured(f"Database {self.database!r}: {exc}.") from exc
        return self.secret_file(CONFIG_FILENAME, content) if content else ""

    def connection_args(self) -> list[str]:
        """Where and as whom to connect; secrets only by reference to the config file."""
        args = [] if self.uri else address.host_argument(self.host, self.port)
        if self.user:
            args.append(f"--username={self.user}")
        if self.auth_source:
            args.append(f"--authenticationDatabase={self.auth_source}")
        if self.auth_mechanism:
            args.append(f"--authenticationMechanism={self.auth_mechanism}")
        config = self.config_file()
        if config:
            args.append(f"--config={config}")
        return args

    def namespace_args(self) -> list[str]:
        """Limit a restore to the alias's database, renaming it from ``SOURCE_NAME`` if set."""
        target = _escape_pattern(self.database_name)
        source = str(self.option("SOURCE_NAME") or "")
        if not source or source == self.database_name:
            return [f"--nsInclude={target}.*"]
        source = _escape_pattern(source)
        return [f"--nsInclude={source}.*", f"--nsFrom={source}.*", f"--nsTo={target}.*"]

    def excluded(self) -> list[str]:
        """The ``EXCLUDE`` collection names, checked (a bare string would be split into letters)."""
        value = self.option("EXCLUDE") or []
        if isinstance(value, str) or not all(isinstance(name, str) and name for name in value):
            raise ImproperlyConfigured(
                f"Connector option EXCLUDE for database {self.database!r} must be a list of collection names."
            )
        return list(value)

    def dump_args(self) -> list[str]:
        exclude = [f"--excludeCollection={name}" for name in self.excluded()]
        return [f"--db={self.database_name}", *self.connection_args(), *exclude, "--archive"]

    def restore_args(self) -> list[str]:
        # Namespaces are matched as they are in the archive, before any --nsFrom/--nsTo rename.
        source = _escape_pattern(str(self.option("SOURCE_NAME") or "") or self.database_name)
        exclude = [f"--nsExclude={source}.{_escape_pattern(name)}" for name in self.excluded()]
        args = [*self.connection_args(), *self.namespace_args(), *exclude]
        if self.flag("DROP", True):
            args.append("--drop")
        if self.flag("OBJECT_CHECK", True):
            args.append("--objcheck")
        return [*args, "--archive"]

    def check_dump(self, sample: StreamSample) -> None:
        """The archive must start with its magic number and end with its terminator, and mongodump
        must not have reported ``Failed:`` on stderr.

        The terminator also follows every interleaved block inside the archive, so an archive cut
        exactly at a block boundary passes this check; mongodump's exit status covers that case.
        With ``--gzip`` the whole stream is compressed: only its start is checked.
        """
        failures = [line.strip() for line in sample.stderr.splitlines() if "Failed:" in line]
        if failures:
            raise IncompleteDump(f"it reported an error: {failures[0]}")
        if sample.head.startswith(GZIP_MAGIC):
            # --gzip compresses the whole archive: only its start can be checked cheaply.
            try:
                start = zlib.decompressobj(wbits=31).decompress(sample.head[:65536], len(ARCHIVE_MAGIC))
            except zlib.error:
                start = b""
            if not start.startswith(ARCHIVE_MAGIC):
                raise IncompleteDump(f"its output is not a gzip-compressed mongodump archive ({sample.size} bytes)")
            return
        if not sample.head.startswith(ARCHIVE_MAGIC):
            raise IncompleteDump(f"its output is not a mongodump archive ({sample.size} bytes)")
        if not sample.tail.endswith(ARCHIVE_TERMINATOR) or sample.size < 8:
            raise IncompleteDump(f"the archive does not end with its terminator ({sample.size} bytes)")

    def tool_versions(self) -> dict[str, str]:
        version = self.tool_version("DUMP", self.dump_cmd)
        return {"mongodump": version} if version else {}
