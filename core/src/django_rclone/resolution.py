"""Connector resolution: which connector backs up a database alias, and why.

Order, highest first:

1. ``DJANGO_RCLONE["CONNECTORS"][alias]``: a dotted path, a class, an instance, or a dict of
   per-alias options whose optional ``"CONNECTOR"`` key names the connector (``"auto"`` or no key
   means: keep resolving with the options applied).
2. ``DJANGO_RCLONE["CONNECTOR_MAPPING"][engine]``.
3. The engines that installed plugins declare (``django_rclone_engines``).
4. The engine family the ENGINE's name contains (``timescale.db.backends.postgresql`` is served
   like ``django.db.backends.postgresql``), with an ``EngineFamilyWarning``; see ``legacy.py``.
5. ``ConnectorNotFound``, naming the plugin distribution to install when one is known.

django-dbbackup and django-snapshots connector paths in steps 1 and 2 are replaced by ours with a
``LegacySettingWarning``; a class in the django-dbbackup style (``_create_dump`` /
``_restore_dump``) is adapted by ``django_rclone.db.compat.DumpStyleConnector``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from django_rclone.conf import get_settings
from django_rclone.db.base import BaseConnector, database_settings
from django_rclone.exceptions import ConnectorNotFound, DjangoRcloneError
from django_rclone.legacy import LegacySettingWarning, engine_family, translate_connector_path
from django_rclone.plugins import PluginHost, get_host


class EngineFamilyWarning(UserWarning):
    """An ENGINE no mapping or plugin names was matched by the database family its name contains."""


#: Distributions known to serve an engine, for the ``ConnectorNotFound`` hint.
KNOWN_PLUGINS: dict[str, str] = {
    "django.db.backends.postgresql": "django-rclone-postgres",
    "django.contrib.gis.db.backends.postgis": "django-rclone-postgres",
    "django_prometheus.db.backends.postgresql": "django-rclone-postgres",
    "django_prometheus.db.backends.postgis": "django-rclone-postgres",
    "django.db.backends.mysql": "django-rclone-mysql",
    "django.contrib.gis.db.backends.mysql": "django-rclone-mysql",
    "django_prometheus.db.backends.mysql": "django-rclone-mysql",
    "django.db.backends.sqlite3": "django-rclone-sqlite",
    "django.contrib.gis.db.backends.spatialite": "django-rclone-sqlite",
    "django_prometheus.db.backends.sqlite3": "django-rclone-sqlite",
    "djongo": "django-rclone-mongodb",
    "django_mongodb_engine": "django-rclone-mongodb",
    "django_mongodb_backend": "django-rclone-mongodb",
}

AUTO = "auto"


@dataclass(frozen=True)
class Resolution:
    """The connector chosen for an alias and the rule that chose it."""

    database: str
    engine: str
    connector: BaseConnector
    rule: str
    detail: str

    @property
    def connector_path(self) -> str:
        describe = getattr(self.connector, "describe", None)
        return describe() if callable(describe) else type(self.connector).dotted_path()


def _split_entry(database: str, entry: Any) -> tuple[Any, dict[str, Any]]:
    """Return (connector target or None, per-alias options) from a CONNECTORS entry."""
    if entry is None or entry == AUTO:
        return None, {}
    if isinstance(entry, Mapping):
        options = {str(k): v for k, v in entry.items() if k != "CONNECTOR"}
        target = entry.get("CONNECTOR")
        return (None if target in (None, AUTO) else target), options
    return entry, {}


def build_connector(target: Any, database: str, options: Mapping[str, Any], origin: str) -> BaseConnector:
    """Turn a dotted path, class or instance into a connector bound to ``database``."""
    if isinstance(target, str):
        ours = translate_connector_path(target)
        if ours is not None:
            warnings.warn(
                f"django-rclone: {origin} names {target!r} (django-dbbackup / django-snapshots); using "
                f"{ours!r}, which does the same job. Write {ours!r} there.",
                LegacySettingWarning,
                stacklevel=3,
            )
            target = ours
        try:
            target = import_string(target)
        except ImportError as exc:
            raise ImproperlyConfigured(f"{origin} names {target!r}, which cannot be imported: {exc}") from exc
    if isinstance(target, type) and issubclass(target, BaseConnector):
        return target(database, options)
    if isinstance(target, BaseConnector):
        if target.database != database:
            raise ImproperlyConfigured(
                f"{origin} is a connector instance bound to database {target.database!r}; name its class "
                "(or dotted path) instead so it is built for each alias."
            )
        return target
    from django_rclone.db.compat import DumpStyleConnector, is_dump_style
    from django_rclone.db.protocol import StructuralConnector, is_structural

    if isinstance(target, type) and is_dump_style(target):
        return DumpStyleConnector(target, database, options)
    if isinstance(target, type) and is_structural(target):
        target = target()
    if is_structural(target):
        return StructuralConnector(target, database, options)
    raise ImproperlyConfigured(
        f"{origin} is {target!r}: expected a BaseConnector subclass (or its dotted path or an instance), "
        "or an object with dump(db_alias, dest) and restore(db_alias, src) methods."
    )


def resolve(database: str, host: PluginHost | None = None) -> Resolution:
    """Resolve the connector for a database alias (see module docstring for the order)."""
    engine = str(database_settings(database).get("ENGINE", ""))
    conf = get_settings()
    target, options = _split_entry(database, conf.connectors.get(database))
    if target is not None:
        origin = f"DJANGO_RCLONE['CONNECTORS'][{database!r}]"
        return Resolution(database, engine, build_connector(target, database, options, origin), "CONNECTORS", origin)
    if engine in conf.connector_mapping:
        origin = f"DJANGO_RCLONE['CONNECTOR_MAPPING'][{engine!r}]"
        connector = build_connector(conf.connector_mapping[engine], database, options, origin)
        return Resolution(database, engine, connector, "CONNECTOR_MAPPING", origin)
    host = host or get_host()
    claim = host.engines().get(engine)
    if claim is not None:
        origin = f"plugin {claim.plugin!r}"
        connector = build_connector(claim.connector, database, options, origin)
        return Resolution(database, engine, connector, "plugin", origin)
    family = engine_family(engine)
    if family is not None:
        claim = host.engines().get(family.engine)
        if claim is not None:
            origin = (
                f"engine family {family.name!r}: ENGINE {engine!r} names it, served like {family.engine!r} "
                f"by plugin {claim.plugin!r}"
            )
            warnings.warn(
                f"django-rclone: database {database!r} has ENGINE {engine!r}, which no CONNECTOR_MAPPING entry or "
                f"plugin names; its name says {family.name}, so it is backed up like {family.engine!r}. Set "
                f"DJANGO_RCLONE['CONNECTOR_MAPPING'][{engine!r}] to choose the connector yourself.",
                EngineFamilyWarning,
                stacklevel=2,
            )
            connector = build_connector(claim.connector, database, options, origin)
            return Resolution(database, engine, connector, "engine family", origin)
    raise ConnectorNotFound(database, engine, KNOWN_PLUGINS.get(engine) or (family.package if family else None))


@dataclass(frozen=True)
class Explanation:
    """Why an alias resolves the way it does, or why it does not resolve (for introspection and checks).

    ``rule`` is ``"CONNECTORS"``, ``"CONNECTOR_MAPPING"``, ``"plugin"`` or ``"engine family"`` when a
    connector was found,
    ``"not found"`` when no rule matched (``package`` then names the distribution to install, if one
    is known) and ``"error"`` when a rule matched but its connector could not be built.
    """

    database: str
    engine: str
    rule: str
    detail: str
    connector: str | None = None
    package: str | None = None
    resolution: Resolution | None = None

    @property
    def resolved(self) -> bool:
        return self.resolution is not None


def explain(database: str, host: PluginHost | None = None) -> Explanation:
    """Resolve ``database`` like ``resolve()`` but report failures instead of raising them.

    Builds the connector (which runs no program and opens no connection) so that a dotted path that
    does not import is reported too.
    """
    try:
        with warnings.catch_warnings():
            # Reported as data here (rule "engine family"; checks W106/W107), not as Python warnings.
            warnings.simplefilter("ignore", EngineFamilyWarning)
            warnings.simplefilter("ignore", LegacySettingWarning)
            found = resolve(database, host)
    except ConnectorNotFound as exc:
        return Explanation(database, exc.engine, "not found", str(exc), package=exc.package)
    except (ImproperlyConfigured, DjangoRcloneError, ImportError, TypeError, ValueError) as exc:
        # A connector that cannot be built (bad dotted path, bad options, a broken plugin answer).
        engine = str(_databases().get(database, {}).get("ENGINE", ""))
        return Explanation(database, engine, "error", str(exc))
    return Explanation(
        database, found.engine, found.rule, found.detail, connector=found.connector_path, resolution=found
    )


def _databases() -> Mapping[str, Any]:
    """``settings.DATABASES`` (read lazily, so importing this module never needs settings)."""
    from django.conf import settings

    return settings.DATABASES  # type: ignore[no-any-return]
