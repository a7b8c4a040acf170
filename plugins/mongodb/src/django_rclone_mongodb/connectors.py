"""MongoDB connector: ``mongodump --archive`` to stdout, ``mongorestore --archive`` from stdin.

The archive format is a single stream, so a backup goes straight from mongodump into
``rclone rcat`` and back from ``rclone cat`` into mongorestore, without a dump folder on disk.

Credentials never reach argv: the password, and a ``mongodb://`` / ``mongodb+srv://`` connection
string (which may embed one), go into the tools' YAML ``--config`` file, written 0600 in a private
folder that the core removes (``cleanup()``) once the processes have ended.

Restore drills restore into a scratch database ``<NAME>_drill_<8 hex>`` on the same server
(mongorestore's ``--nsFrom``/``--nsTo``), count its documents and drop it with pymongo (in this
process: no credentials in any argv), and compare with the per-collection counts mongodump logged
while making the backup (``done dumping <db>.<collection> (N documents)``).
"""

from __future__ import annotations

import importlib
import re
import secrets
import zlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_rclone.db.base import BaseConnector, CommandConnector, ToolNotFound
from django_rclone.exceptions import DjangoRcloneError, IncompleteDump
from django_rclone.sample import StreamSample
from django_rclone_mongodb import address, yaml_config

CONFIG_FILENAME = "mongo-tools.yaml"
#: A ``--archive`` stream starts with this magic number (0x8199e26d, little-endian) ...
ARCHIVE_MAGIC = (0x8199E26D).to_bytes(4, "little")
#: ... and mongodump ends it with a terminator (int32 -1) after the last namespace's end block.
ARCHIVE_TERMINATOR = b"\xff\xff\xff\xff"
#: ``--gzip`` with ``--archive`` compresses the whole stream.
GZIP_MAGIC = b"\x1f\x8b"
#: mongodump logs one such line per collection it dumped (``<time>\tdone dumping db.coll (3 documents)``).
DONE_DUMPING = re.compile(r"\bdone dumping (?P<ns>\S.*) \((?P<count>\d+) documents?\)\s*$")
#: Marks a drill's scratch database; ``drop_scratch()`` drops no database without it.
DRILL_MARK = "_drill_"
#: MongoDB limits database names to 63 bytes (64 with the terminator).
NAME_LIMIT = 63
#: How long pymongo waits for a server before a drill's side call fails.
SERVER_TIMEOUT_MS = 10_000


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
    - ``COUNT_ROWS`` (default ``True``): record each collection's document count, as mongodump
      reports it, in the manifest, for restore drills to compare.

    Restore drills (``drill_target()``) need pymongo (installed with django-mongodb-backend and
    djongo) to count the scratch database's documents and drop it, and a user allowed to create
    and drop the database ``<NAME>_drill_<8 hex>``.

    A restore only touches the alias's own database: mongorestore gets ``--nsInclude=<db>.*``.
    mongorestore commits collection by collection (``--drop`` is per collection), so the whole
    archive is checked against its manifest before mongorestore receives a byte
    (``verify_before_restore``): a damaged or cut download never starts a restore.
    """

    #: mongorestore applies the archive as it reads it; a stopped restore cannot be rolled back.
    verify_before_restore = True
    extension = "archive"
    known_options = frozenset({"SOURCE_NAME", "AUTH_SOURCE", "AUTH_MECHANISM", "DROP", "OBJECT_CHECK", "COUNT_ROWS"})
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

    def _check_archive(self, sample: StreamSample) -> None:
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

    # -- document counts and restore drills ----------------------------------------------------
    dump_report = DONE_DUMPING.pattern
    _dump_counts: dict[str, int] | None = None

    def read_counts(self, lines: list[str] | None) -> dict[str, int] | None:
        """The document count of every collection of this database in mongodump's ``done dumping``
        lines; ``None`` when there are none (``--quiet``, or an empty database: nothing to compare
        either way, and a drill says so), when some were dropped, or when one is repeated."""
        if lines is None:
            return None
        prefix = f"{self.database_name}."
        counts: dict[str, int] = {}
        for line in lines:
            found = DONE_DUMPING.search(line)
            if found is None or not found["ns"].startswith(prefix):
                continue
            collection = found["ns"][len(prefix) :]
            if collection.startswith("system."):  # e.g. a time series' buckets: not a collection one counts
                continue
            if collection in counts:
                return None
            counts[collection] = int(found["count"])
        return counts or None

    def check_dump(self, sample: StreamSample) -> None:
        """Check the archive (``_check_archive()``), then read the document counts (``COUNT_ROWS``)."""
        self._check_archive(sample)
        self._dump_counts = self.read_counts(sample.stderr_lines) if self.flag("COUNT_ROWS", True) else None

    def dump_finished(self) -> dict[str, Any]:
        """The per-collection document counts mongodump logged, as ``metadata["table_counts"]``;
        nothing when they could not be read (a drill then checks the restore only, and says so)."""
        counts, self._dump_counts = self._dump_counts, None
        return {} if counts is None else {self.TABLE_COUNTS: counts}

    #: The live database a drill connector's scratch database belongs to.
    drill_of: str = ""

    def pymongo(self) -> Any:
        """The pymongo module; ``ToolNotFound`` when it is not installed."""
        try:
            return importlib.import_module("pymongo")
        except ImportError as exc:
            raise ToolNotFound(
                f"restore drills of database {self.database!r} need pymongo to count the scratch database's "
                "documents and drop it (pip install pymongo; django-mongodb-backend and djongo install it)"
            ) from exc

    def client_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``pymongo.MongoClient``: the alias's OPTIONS and djongo's CLIENT
        (pymongo options both), then the connection details the tools get."""
        kwargs: dict[str, Any] = {k: v for k, v in self.connection_options.items() if not str(k).isupper()}
        kwargs.update(self.client)
        if self.uri:
            kwargs["host"] = self.uri
            kwargs.pop("port", None)
        else:
            host = self.host.strip() or address.DEFAULT_HOST
            replica_set, slash, seeds = host.partition("/")
            if slash and "," not in replica_set and ":" not in replica_set:  # rs0/h1,h2 (the tools' form)
                kwargs.setdefault("replicaSet", replica_set)
                host = seeds
            kwargs["host"] = [h.strip() for h in host.split(",") if h.strip()]
            if self.port:
                kwargs["port"] = int(self.port)
        for key, value in (
            ("username", self.user),
            ("password", self.password),
            ("authSource", self.auth_source),
            ("authMechanism", self.auth_mechanism),
        ):
            if value:
                kwargs[key] = value
        kwargs.setdefault("serverSelectionTimeoutMS", SERVER_TIMEOUT_MS)
        return kwargs

    def drill_target(self) -> BaseConnector:
        """A copy restoring into a new database ``<NAME>_drill_<8 hex>`` on the same server
        (``--nsFrom``/``--nsTo``, as ``SOURCE_NAME``). Fails before anything is restored when
        pymongo, which drops it afterwards, is missing."""
        self.pymongo()
        live = self.database_name
        suffix = f"{DRILL_MARK}{secrets.token_hex(4)}"
        stem = live.encode()[: NAME_LIMIT - len(suffix)].decode(errors="ignore")
        scratch = self.scratch_copy(NAME=stem + suffix, SOURCE_NAME=str(self.option("SOURCE_NAME") or live))
        assert isinstance(scratch, MongoDumpConnector)
        scratch.drill_of = live
        scratch._claimed = False
        return scratch

    _claimed = False

    def _scratch_name(self) -> str:
        """The scratch database's name, refused unless it is one ``drill_target()`` made."""
        name = self.database_name
        if not self.drill_of or DRILL_MARK not in name or name in (self.drill_of, self.option("SOURCE_NAME")):
            raise DjangoRcloneError(f"refusing to use {name!r} as a drill's scratch database (live: {self.drill_of!r})")
        return name

    def _with_client(self, action: Any) -> Any:
        client = self.pymongo().MongoClient(**self.client_arguments())
        try:
            return action(client)
        finally:
            client.close()

    def create_scratch(self) -> None:
        """Claim the scratch name: it must not exist yet (MongoDB creates it on the first insert)."""
        name = self._scratch_name()
        if self._with_client(lambda client: name in client.list_database_names()):
            raise DjangoRcloneError(f"the drill's scratch database {name!r} already exists; not touching it")
        self._claimed = True

    def drop_scratch(self) -> None:
        """Drop the scratch database, only when ``create_scratch()`` claimed its name."""
        if not self._claimed:
            return
        name = self._scratch_name()
        self._with_client(lambda client: client.drop_database(name))
        self._claimed = False

    def table_counts(self) -> dict[str, int]:
        """The document count of every collection of the scratch database, read from the server."""
        name = self._scratch_name()

        def count(client: Any) -> dict[str, int]:
            database = client[name]
            names = database.list_collection_names(filter={"type": "collection"})
            return {c: int(database[c].count_documents({})) for c in sorted(names) if not c.startswith("system.")}

        counts: dict[str, int] = self._with_client(count)
        return counts
