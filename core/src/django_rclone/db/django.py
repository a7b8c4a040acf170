"""Fallback connector for engines without a native plugin: Django's own ``dumpdata`` / ``loaddata``.

The dump is a child Python process running ``dumpdata`` for the alias, streaming JSON to stdout
(``NAME``/``USER``/``PASSWORD``/``HOST``/``PORT`` from ``CONNECTORS[alias]`` are applied in the
child, through its environment, never argv). The restore is a child process that, in one
transaction on the alias, empties every table the dump covers and then runs ``loaddata -`` on
stdin, so the restored data equals the backup and a failed load leaves the database unchanged.

This is never chosen automatically: a serialised dump holds rows only (no schema, sequences,
views, triggers or database-native types Django does not model), is slower than native tools
and ``loaddata`` holds the whole document in memory. Enable it per alias with
``DJANGO_RCLONE["CONNECTORS"][alias] = "django_rclone.db.django.DjangoDumpDataConnector"`` or per
engine with ``CONNECTOR_MAPPING``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_rclone.db.base import CommandConnector, Phase
from django_rclone.exceptions import IncompleteDump
from django_rclone.sample import StreamSample

__all__ = ["DjangoDumpDataConnector"]

#: Connection keys a ``CONNECTORS[alias]`` dict may override; passed to the child in this variable
#: (JSON, in the environment because it can hold a password) and applied before it connects.
OVERRIDE_KEYS = ("NAME", "USER", "PASSWORD", "HOST", "PORT")
OVERRIDES_ENV = "DJANGO_RCLONE_DUMPDATA_OVERRIDES"


class DjangoDumpDataConnector(CommandConnector):
    """Data-only backups through Django serialisation; works for any engine Django supports.

    ``EXCLUDE`` takes app labels (``"auth"``) or models (``"auth.Permission"``), as ``dumpdata -e``.
    """

    extension = "json"
    #: ``loaddata`` deserializes JSON into model rows; nothing in a fixture runs as a command.
    sandboxed = True
    dump_cmd = sys.executable
    restore_cmd = sys.executable

    def settings_module(self) -> str:
        module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
        if not module:
            raise ImproperlyConfigured(
                "DjangoDumpDataConnector needs DJANGO_SETTINGS_MODULE set so its child process loads the same settings."
            )
        return module

    def excluded(self) -> list[str]:
        value = self.option("EXCLUDE") or []
        if isinstance(value, str):
            value = [value]
        return [str(label) for label in value]

    def _args(self, action: str) -> list[str]:
        args = ["-m", "django_rclone.db.django", action, "--settings", self.settings_module()]
        args += ["--database", self.database]
        for label in self.excluded():
            args += ["-e", label]
        return args

    def tool_label(self, phase: Phase) -> str:
        return "dumpdata" if phase == "DUMP" else "loaddata"

    def dump_args(self) -> list[str]:
        return self._args("dump")

    def restore_args(self) -> list[str]:
        return self._args("restore")

    def check_dump(self, sample: StreamSample) -> None:
        """``dumpdata`` writes one JSON array: the output must open with ``[`` and close with ``]``."""
        if not sample.head.lstrip().startswith(b"[") or not sample.tail.rstrip().endswith(b"]"):
            raise IncompleteDump(f"its output is not a whole JSON array ({sample.size} bytes)")

    def secret_env(self) -> dict[str, str]:
        # The parent's import path (cwd-relative entries made absolute), so the child imports the
        # settings module and project apps the same way, and the alias's connection overrides.
        paths = [os.path.abspath(p) if p else os.getcwd() for p in sys.path]
        inherited = os.environ.get("PYTHONPATH", "")
        overrides = {key: self.options[key] for key in OVERRIDE_KEYS if self.options.get(key) is not None}
        return {
            "PYTHONPATH": os.pathsep.join([*paths, *([inherited] if inherited else [])]),
            OVERRIDES_ENV: json.dumps(overrides),
        }

    def tool_versions(self) -> dict[str, str]:
        import django

        return {"django": django.get_version(), "python": sys.version.split()[0]}


def _replace(database: str, exclude: Sequence[str]) -> None:
    """Empty the tables a dump of ``database`` covers, then ``loaddata -``; all in one transaction."""
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connections, router, transaction

    connection = connections[database]
    existing = set(connection.introspection.table_names())
    tables: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed or meta.app_label in exclude or meta.label in exclude:
            continue
        owner = meta.auto_created  # the model that declares an auto-created many-to-many table
        if isinstance(owner, type) and owner._meta.label in exclude:
            continue
        if router.allow_migrate_model(database, model) and meta.db_table in existing:
            tables.append(meta.db_table)
    with transaction.atomic(using=database):
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA defer_foreign_keys = ON")
            for table in tables:
                # Table names come from the project's own models, quoted by the backend.
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")  # noqa: S608
        call_command("loaddata", "-", database=database, format="json", verbosity=0)


def _dump(database: str, exclude: Sequence[str]) -> None:
    """``dumpdata`` of ``database`` as JSON with natural keys, to stdout."""
    from django.core.management import call_command

    call_command(
        "dumpdata",
        database=database,
        exclude=list(exclude),
        use_natural_foreign_keys=True,
        use_natural_primary_keys=True,
        format="json",
        verbosity=0,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the children: ``python -m django_rclone.db.django dump|restore --settings S --database A``."""
    import argparse

    parser = argparse.ArgumentParser(description="Dump a database with dumpdata, or replace its data from stdin.")
    parser.add_argument("action", choices=["dump", "restore"])
    parser.add_argument("--settings", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("-e", "--exclude", action="append", default=[])
    options = parser.parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = options.settings
    import django

    django.setup()
    from django.db import connections

    overrides = json.loads(os.environ.pop(OVERRIDES_ENV, "") or "{}")
    connections.settings[options.database].update(overrides)
    if options.action == "dump":
        _dump(options.database, options.exclude)
    else:
        _replace(options.database, options.exclude)


#: Deprecated names (django-dbbackup / django-snapshots) and the connector each stands for.
_DEPRECATED = {
    "DjangoConnector": "django_rclone.db.django.DjangoDumpDataConnector",
}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        from django_rclone.db.compat import alias

        return alias(__name__, name, _DEPRECATED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
