"""``rcloneplugins``: which plugins are installed and which connector each database alias gets, and why."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from django_rclone import __version__
from django_rclone.management.base import RcloneCommand, scrubbed
from django_rclone.plugins import get_host
from django_rclone.resolution import explain

CORE_PLUGIN = "django_rclone.core"


def report() -> dict[str, Any]:
    """The introspection report as plain data (the ``--json`` output; keys documented in docs/commands.md)."""
    host = get_host()
    declared = host.declared_engines()
    serving: dict[str, list[str]] = {}
    for engine, claim in host.engines().items():
        serving.setdefault(claim.plugin, []).append(engine)
    plugins = []
    for info in host.plugins:
        core = info.name == CORE_PLUGIN
        plugins.append(
            {
                "name": info.name,
                "distribution": "django-rclone" if core else info.distribution,
                "version": __version__ if core else info.version,
                "module": info.module,
                "engines": sorted(declared.get(info.name, [])),
                "serves": sorted(serving.get(info.name, [])),
            }
        )
    databases = []
    for alias in settings.DATABASES:
        found = explain(alias, host)
        databases.append(
            {
                "alias": alias,
                "engine": found.engine,
                "resolved": found.resolved,
                "connector": found.connector,
                "rule": found.rule,
                "detail": found.detail,
                "package": found.package,
            }
        )
    return {"django_rclone": __version__, "plugins": plugins, "databases": databases}


class Command(RcloneCommand):
    help = (
        "List installed django-rclone plugins (distribution, version, engines) and the connector every "
        "database alias resolves to, with the rule that chose it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        data = report()
        if options["json"]:
            self.stdout.write(scrubbed(json.dumps(data, indent=2, sort_keys=True)))
            return
        self.stdout.write(f"django-rclone {data['django_rclone']}")
        self.stdout.write("")
        self.stdout.write("Plugins:")
        for plugin in data["plugins"]:
            origin = f"{plugin['distribution'] or 'unknown distribution'} {plugin['version'] or ''}".rstrip()
            self.stdout.write(f"  {plugin['name']}  ({origin}; {plugin['module']})")
            for engine in plugin["engines"]:
                note = "" if engine in plugin["serves"] else "  [served by another plugin]"
                self.stdout.write(f"      {engine}{note}")
        self.stdout.write("")
        self.stdout.write("Databases:")
        for db in data["databases"]:
            self.stdout.write(f"  {db['alias']}  (ENGINE {db['engine'] or '?'})")
            if db["resolved"]:
                self.stdout.write(f"      -> {db['connector']}")
                self.stdout.write(f"         chosen by {db['detail']}")
                if db["rule"] == "engine family":
                    self.stdout.write(
                        "         (matched by name only: set DJANGO_RCLONE['CONNECTOR_MAPPING'] for this ENGINE "
                        "to choose the connector yourself)"
                    )
            elif db["rule"] == "not found":
                install = f"pip install {db['package']}" if db["package"] else db["detail"]
                self.stdout.write(f"      -> no connector: {install}")
            else:
                self.stdout.write(f"      -> error: {db['detail']}")
