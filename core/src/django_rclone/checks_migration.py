"""System checks for settings left over from django-dbbackup and django-snapshots (ids W101-W107).

They warn for each old setting django-rclone does not read (so a "dump from the replica" override
does not silently become a dump of the primary), print the equivalent ``DJANGO_RCLONE`` entry, and
point at ``manage.py translatesettings`` for the whole translated dict. See docs/checks.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core import checks

from django_rclone.checks import TAG, _wanted
from django_rclone.legacy import translate_connector_path
from django_rclone.translate import translate

TRANSLATE_HINT = "`python manage.py translatesettings` prints the whole translated DJANGO_RCLONE."


def check_leftover_settings(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W101-W105: django-dbbackup / django-snapshots settings that django-rclone does not read."""
    if not _wanted(app_configs):
        return []
    try:
        found = translate(django_settings).findings
    except Exception as exc:  # a check must never break `manage.py check` for the whole project
        return [
            checks.Warning(
                f"django-dbbackup / django-snapshots settings could not be read: {type(exc).__name__}: {exc}.",
                hint="Translate them by hand (docs/migration-from-dbbackup.md).",
                id="django_rclone.W101",
            )
        ]
    return [
        checks.Warning(
            finding.message + ".", hint=f"Equivalent: {finding.equivalent}. {TRANSLATE_HINT}", id=finding.check_id
        )
        for finding in found
    ]


def check_legacy_connector_paths(
    app_configs: Iterable[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """W106: django-dbbackup / django-snapshots connector paths inside ``DJANGO_RCLONE``."""
    if not _wanted(app_configs):
        return []
    raw = getattr(django_settings, "DJANGO_RCLONE", None)
    if not isinstance(raw, Mapping):
        return []
    messages: list[checks.CheckMessage] = []
    places: list[tuple[str, Any]] = []
    for alias, entry in dict(raw.get("CONNECTORS") or {}).items():
        target = entry.get("CONNECTOR") if isinstance(entry, Mapping) else entry
        places.append((f"DJANGO_RCLONE['CONNECTORS'][{alias!r}]", target))
    for engine, target in dict(raw.get("CONNECTOR_MAPPING") or {}).items():
        places.append((f"DJANGO_RCLONE['CONNECTOR_MAPPING'][{engine!r}]", target))
    for origin, target in places:
        ours = translate_connector_path(target) if isinstance(target, str) else None
        if ours:
            messages.append(
                checks.Warning(
                    f"{origin} names {target!r}, a django-dbbackup / django-snapshots connector; {ours!r} is used.",
                    hint=f"Write {ours!r} there.",
                    id="django_rclone.W106",
                )
            )
    return messages


def check_engine_families(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W107: an alias whose connector was chosen by the family its ENGINE's name contains."""
    if not _wanted(app_configs):
        return []
    from django.core.exceptions import ImproperlyConfigured

    from django_rclone.conf import get_settings
    from django_rclone.resolution import EngineFamilyWarning, explain

    try:
        get_settings()
    except ImproperlyConfigured:
        return []  # reported by E001-E003
    messages: list[checks.CheckMessage] = []
    for alias in django_settings.DATABASES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EngineFamilyWarning)
            found = explain(alias)
        if found.rule == "engine family":
            messages.append(
                checks.Warning(
                    f"Database {alias!r} (ENGINE {found.engine!r}) is backed up with {found.connector} because its "
                    f"ENGINE's name says which database it is ({found.detail}).",
                    hint=f"If that is right, say so: DJANGO_RCLONE['CONNECTOR_MAPPING'][{found.engine!r}] = "
                    f"{found.connector!r}.",
                    id="django_rclone.W107",
                )
            )
    return messages


ALL_CHECKS = (check_leftover_settings, check_legacy_connector_paths, check_engine_families)


def register() -> None:
    """Register the migration checks under the ``django_rclone`` tag (called from ``ready()``)."""
    for check in ALL_CHECKS:
        checks.register(check, TAG)
