"""The plugin manager and its typed facade.

Plugins are found through the ``django_rclone`` entry-point group, loaded once and lazily (the
first time a command needs them, never at import time). A plugin that fails to import is skipped
with a warning naming its distribution. ``DJANGO_RCLONE_DISABLE_PLUGINS`` (comma-separated entry
point names, or ``*``) keeps installed plugins from loading.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from django_rclone import hookspecs
from django_rclone.db.base import BaseConnector, StdinSource
from django_rclone.sample import StreamSample

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)
ENTRY_POINT_GROUP = "django_rclone"
DISABLE_ENV = "DJANGO_RCLONE_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin and where it came from."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class EngineClaim:
    """A connector that a plugin declares for an engine."""

    engine: str
    connector: Any
    plugin: str


@dataclass
class PluginHost:
    """Typed facade over the pluggy manager: one method per hook."""

    pm: pluggy.PluginManager
    infos: list[PluginInfo] = field(default_factory=list)

    def register(
        self, plugin: object, name: str | None = None, distribution: str | None = None, version: str | None = None
    ) -> None:
        registered = self.pm.register(plugin, name=name)
        module = getattr(plugin, "__name__", type(plugin).__name__)
        self.infos.append(
            PluginInfo(name=registered or module, module=module, distribution=distribution, version=version)
        )
        self.pm.check_pending()

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.infos = [info for info in self.infos if info.name != name]

    @property
    def plugins(self) -> list[PluginInfo]:
        return list(self.infos)

    def engines(self) -> dict[str, EngineClaim]:
        """Every engine any plugin serves; later-registered plugins win conflicts."""
        claims: dict[str, EngineClaim] = {}
        impls = self.pm.hook.django_rclone_engines.get_hookimpls()  # registration order
        for impl in impls:
            answer = impl.function()
            if not answer:
                continue
            if not isinstance(answer, Mapping):
                raise TypeError(f"plugin {impl.plugin_name!r}: django_rclone_engines must return a mapping")
            for engine, connector in answer.items():
                previous = claims.get(engine)
                if previous is not None and previous.plugin != impl.plugin_name:
                    warnings.warn(
                        f"django-rclone: plugins {previous.plugin!r} and {impl.plugin_name!r} both serve "
                        f"{engine!r}; using {impl.plugin_name!r}. Set CONNECTOR_MAPPING to choose.",
                        stacklevel=2,
                    )
                claims[engine] = EngineClaim(engine, connector, impl.plugin_name)
        return claims

    def declared_engines(self) -> dict[str, list[str]]:
        """Every engine each plugin declares, by plugin name (including claims another plugin won).

        For introspection: ``engines()`` says who serves an engine, this says what each plugin offers.
        """
        declared: dict[str, list[str]] = {info.name: [] for info in self.infos}
        for impl in self.pm.hook.django_rclone_engines.get_hookimpls():
            answer = impl.function()
            if isinstance(answer, Mapping):
                declared.setdefault(impl.plugin_name, []).extend(sorted(str(engine) for engine in answer))
        return declared

    def dump(self, connector: BaseConnector, database: str) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] | None = self.pm.hook.django_rclone_dump(connector=connector, database=database)
        if proc is None:
            raise RuntimeError(f"no plugin started a dump for {database!r}")
        return proc

    def check_dump(self, connector: BaseConnector, database: str, sample: StreamSample) -> None:
        self.pm.hook.django_rclone_check_dump(connector=connector, database=database, sample=sample)

    def restore(self, connector: BaseConnector, database: str, stdin: StdinSource) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] | None = self.pm.hook.django_rclone_restore(
            connector=connector, database=database, stdin=stdin
        )
        if proc is None:
            raise RuntimeError(f"no plugin started a restore for {database!r}")
        return proc

    def extension(self, connector: BaseConnector, database: str) -> str:
        ext = self.pm.hook.django_rclone_extension(connector=connector, database=database)
        return str(ext)


def _disabled() -> set[str] | None:
    """Entry-point names blocked by the environment; ``None`` means all are blocked."""
    raw = os.environ.get(DISABLE_ENV, "").strip()
    if raw in ("*", "all", "1"):
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def build_host(load_entry_points: bool = True) -> PluginHost:
    """Create a plugin host with the core's own hooks and (optionally) every installed plugin."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    host = PluginHost(pm)
    from django_rclone import __version__

    host.register(
        importlib.import_module("django_rclone.hookimpls"),
        name="django_rclone.core",
        distribution="django-rclone",
        version=__version__,
    )
    if not load_entry_points:
        return host
    blocked = _disabled()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if blocked is None or ep.name in blocked or pm.has_plugin(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            pm.check_pending()
        except Exception as exc:  # a broken plugin must not break every command
            if pm.has_plugin(ep.name):
                pm.unregister(name=ep.name)
            warnings.warn(
                f"django-rclone: skipping plugin {ep.name!r} from distribution "
                f"{dist_name or 'unknown'}: {type(exc).__name__}: {exc}",
                stacklevel=2,
            )
            continue
        host.infos.append(
            PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist_name,
                version=dist.version if dist is not None else None,
            )
        )
    return host


_host: PluginHost | None = None
_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, built on first use."""
    global _host
    if _host is None:
        with _lock:
            if _host is None:
                _host = build_host()
    return _host


def reset_host() -> None:
    """Forget the cached host (tests, or after installing a plugin at runtime)."""
    global _host
    with _lock:
        _host = None
