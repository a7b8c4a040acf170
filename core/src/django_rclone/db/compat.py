"""Equivalents of the connector API that django-dbbackup and django-snapshots users have in their code.

- ``BaseDBConnector`` / ``BaseCommandDBConnector``: django-dbbackup's base classes. A subclass
  implements ``_create_dump()`` (return a readable binary file-like object holding the dump) and
  ``_restore_dump(dump)`` (read the dump from the file-like object ``dump``). Change the import from
  ``dbbackup.db.base`` to this module and name the class in ``DJANGO_RCLONE["CONNECTORS"]`` as
  before; the core adapts it with ``DumpStyleConnector``. Such a class, and one that still
  subclasses django-dbbackup's own base classes, is used through the same adapter.
- ``get_connector_class(engine)`` / ``get_connector_for_alias(alias)``: django-snapshots'
  auto-detection functions, answered by django-rclone's resolution (deprecated: use
  ``django_rclone.testing.resolve``).
- ``PgDumpBinaryConnector``, ``DjangoConnector``, ``SQLiteConnector``, ``PostgresConnector``,
  ``MySQLConnector``, ``DjangoDumpDataConnector``: the old class names, each the django-rclone
  connector that does the same job (deprecated aliases: importing one warns with
  ``DeprecationWarning`` and names the class to import).

The dbbackup style cannot stream: ``_create_dump`` returns a whole file, so the adapter copies it
into the pipeline after the method returns, and hands ``_restore_dump`` a local spooled copy of the
(already verified) backup, kept in memory up to ``SPOOL_SIZE`` bytes and on disk in ``TMPDIR``
beyond. Port the class to ``CommandConnector`` to stream large databases.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from django_rclone.db.protocol import StructuralConnector
from django_rclone.exceptions import DjangoRcloneError

__all__ = [
    "BaseCommandDBConnector",
    "BaseDBConnector",
    "CommandConnectorError",
    "DumpStyleConnector",
    "get_connector_class",
    "get_connector_for_alias",
    "is_dump_style",
]

#: Bytes of a dump kept in memory before the spooled copy moves to a temporary file.
SPOOL_SIZE = 10 * 1024 * 1024


class CommandConnectorError(DjangoRcloneError):
    """A command run by ``BaseCommandDBConnector.run_command`` exited non-zero."""


def is_dump_style(target: object) -> bool:
    """Whether ``target`` (a class) follows django-dbbackup's ``_create_dump`` / ``_restore_dump`` contract."""
    return callable(getattr(target, "_create_dump", None)) and callable(getattr(target, "_restore_dump", None))


class BaseDBConnector:
    """django-dbbackup's connector base: subclass it and implement ``_create_dump`` / ``_restore_dump``.

    Built as ``Class(database_name=alias, **options)`` with the alias's ``DJANGO_RCLONE["CONNECTORS"]``
    options: each option also becomes a lower-case attribute (``EXCLUDE`` -> ``self.exclude``), as in
    django-dbbackup. ``settings`` is ``DATABASES[alias]`` overlaid with those options.
    """

    extension: str = "dump"
    exclude: list[str] = []

    def __init__(self, database_name: str | None = None, **kwargs: Any) -> None:
        self.database_name = database_name or "default"
        self._options = dict(kwargs)
        for attr, value in kwargs.items():
            setattr(self, attr.lower(), value)

    @property
    def connection(self) -> Any:
        """The Django connection of the alias."""
        from django.db import connections

        return connections[self.database_name]

    @property
    def settings(self) -> dict[str, Any]:
        from django_rclone.db.base import database_settings

        return {**database_settings(self.database_name), **self._options}

    def create_dump(self) -> IO[bytes]:
        return self._create_dump()

    def restore_dump(self, dump: IO[bytes]) -> Any:
        return self._restore_dump(dump)

    def _create_dump(self) -> IO[bytes]:
        raise NotImplementedError(f"{type(self).__name__} must implement _create_dump()")

    def _restore_dump(self, dump: IO[bytes]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _restore_dump(dump)")


class BaseCommandDBConnector(BaseDBConnector):
    """django-dbbackup's base for connectors that run a command: ``run_command()`` and its options.

    ``dump_prefix`` / ``dump_suffix`` / ``restore_prefix`` / ``restore_suffix`` are strings your
    ``_create_dump`` / ``_restore_dump`` put around the command they build, ``env`` applies to every
    command, ``dump_env`` / ``restore_env`` are for you to pass as ``env``, and ``use_parent_env``
    (default ``True``) starts from this process's environment.
    """

    dump_prefix: str = ""
    dump_suffix: str = ""
    restore_prefix: str = ""
    restore_suffix: str = ""
    use_parent_env: bool = True
    env: Mapping[str, str] = {}
    dump_env: Mapping[str, str] = {}
    restore_env: Mapping[str, str] = {}

    def run_command(
        self, command: str, stdin: IO[bytes] | None = None, env: Mapping[str, str] | None = None
    ) -> tuple[IO[bytes], IO[bytes]]:
        """Run ``command`` (split with shell rules, never run by a shell) and wait for it.

        Returns ``(stdout, stderr)`` as spooled files positioned at their start; raises
        ``CommandConnectorError`` with the command's stderr when it exits non-zero.
        """
        argv = shlex.split(command)
        full_env: dict[str, str] = dict(os.environ) if self.use_parent_env else {}
        full_env.update({str(k): str(v) for k, v in self.env.items()})
        full_env.update({str(k): str(v) for k, v in (env or {}).items()})
        source: int = subprocess.DEVNULL
        data: bytes | None = None
        if stdin is not None:
            try:
                source = stdin.fileno()
            except (AttributeError, OSError, io.UnsupportedOperation):
                source, data = subprocess.PIPE, stdin.read()
        stdout = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller, as in django-dbbackup
        try:
            proc = subprocess.Popen(argv, stdin=source, stdout=stdout, stderr=subprocess.PIPE, env=full_env)
        except FileNotFoundError as exc:
            stdout.close()
            raise CommandConnectorError(f"{argv[0]!r} was not found for database {self.database_name!r}") from exc
        _, err = proc.communicate(data)
        stdout.seek(0)
        if proc.returncode != 0:
            stdout.close()
            detail = err.decode(errors="replace").strip()
            raise CommandConnectorError(f"{argv[0]} exited with status {proc.returncode}: {detail}")
        return stdout, io.BytesIO(err)


class _DumpStyleTarget:
    """The structural (``dump(db_alias, dest)`` / ``restore(db_alias, src)``) face of a dbbackup-style class."""

    def __init__(self, cls: type, options: Mapping[str, Any]) -> None:
        self.cls = cls
        self.options = dict(options)
        self.extension = str(getattr(cls, "extension", "dump") or "dump")

    def _instance(self, db_alias: str) -> Any:
        return self.cls(database_name=db_alias, **self.options)

    def dump(self, db_alias: str, dest: Path) -> dict[str, Any]:
        dump = self._instance(db_alias).create_dump()
        if dump is None:
            raise CommandConnectorError(f"{self.cls.__qualname__}._create_dump() returned None instead of a file")
        if getattr(dump, "seekable", lambda: False)():
            dump.seek(0)
        with open(dest, "wb") as out:
            shutil.copyfileobj(dump, out, 1024 * 1024)
        return {}

    def restore(self, db_alias: str, src: Path) -> None:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE) as copy, open(src, "rb") as stream:
            shutil.copyfileobj(stream, copy, 1024 * 1024)
            copy.seek(0)
            self._instance(db_alias).restore_dump(copy)


class DumpStyleConnector(StructuralConnector):
    """Adapts a django-dbbackup-style class (``_create_dump`` / ``_restore_dump``) to the core.

    Built by resolution when ``CONNECTORS`` / ``CONNECTOR_MAPPING`` names such a class; the alias's
    options are passed to the class as keyword arguments, as django-dbbackup does.
    """

    def __init__(self, cls: type, database: str = "default", options: Mapping[str, Any] | None = None) -> None:
        super().__init__(_DumpStyleTarget(cls, options or {}), database, options)
        self.legacy_class = cls

    def describe(self) -> str:
        return f"{self.legacy_class.__module__}.{self.legacy_class.__qualname__}"


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated; use {new}.", DeprecationWarning, stacklevel=3)


def get_connector_class(engine: str) -> type:
    """The connector class django-rclone uses for a ``DATABASES`` ENGINE (django-snapshots' function).

    Follows ``CONNECTOR_MAPPING``, then the installed plugins, then the engine family; raises
    ``ConnectorNotFound`` where django-snapshots fell back to dumpdata (name
    ``DjangoDumpDataConnector`` in ``CONNECTOR_MAPPING`` for that).
    """
    _deprecated("django_rclone.db.compat.get_connector_class", "DJANGO_RCLONE['CONNECTOR_MAPPING'] and rcloneplugins")
    from django.utils.module_loading import import_string

    from django_rclone.conf import get_settings
    from django_rclone.exceptions import ConnectorNotFound
    from django_rclone.legacy import engine_family, translate_connector_path
    from django_rclone.plugins import get_host
    from django_rclone.resolution import KNOWN_PLUGINS

    target = get_settings().connector_mapping.get(engine)
    if target is None:
        claims = get_host().engines()
        family = engine_family(engine)
        claim = claims.get(engine) or (claims.get(family.engine) if family else None)
        if claim is None:
            package = KNOWN_PLUGINS.get(engine) or (family.package if family else None)
            raise ConnectorNotFound("?", engine, package)
        target = claim.connector
    if isinstance(target, str):
        target = import_string(translate_connector_path(target) or target)
    return target if isinstance(target, type) else type(target)


def get_connector_for_alias(db_alias: str) -> Any:
    """The connector django-rclone builds for ``db_alias`` (django-snapshots' function)."""
    _deprecated("django_rclone.db.compat.get_connector_for_alias", "django_rclone.testing.resolve(alias).connector")
    from django_rclone.resolution import resolve

    return resolve(db_alias).connector


#: Old class names and the connector (dotted path) each stands for.
ALIASES: dict[str, str] = {
    "PgDumpBinaryConnector": "django_rclone_postgres.connectors.PgDumpConnector",
    "DjangoConnector": "django_rclone.db.django.DjangoDumpDataConnector",
    "DjangoDumpDataConnector": "django_rclone.db.django.DjangoDumpDataConnector",
    "SQLiteConnector": "django_rclone_sqlite.connectors.SqliteConnector",
    "PostgresConnector": "django_rclone_postgres.connectors.PgDumpSqlConnector",
    "MySQLConnector": "django_rclone_mysql.connectors.MysqlDumpConnector",
}


def alias(module: str, name: str, target: str) -> Any:
    """Import ``target`` for the deprecated name ``module.name``, warning with the name to use."""
    from django.utils.module_loading import import_string

    _deprecated(f"{module}.{name}", target)
    return import_string(target)


def __getattr__(name: str) -> Any:
    if name in ALIASES:
        return alias(__name__, name, ALIASES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
