"""Where a local-folder REMOTE keeps backups on this machine, and refusing MEDIA_ROOT overlaps.

``rclone sync`` makes its destination match its source. If MEDIA_ROOT were the database backup
folder of a local remote, ``mediarestore`` would delete every database backup; if the backup
folders were inside MEDIA_ROOT, dumps would sit among user uploads (and be served as media). Both
are refused: by a system check (``django_rclone.E005``) and again when a command runs.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from django.conf import settings as django_settings

from django_rclone.conf import RcloneSettings
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.secrecy import parse_connection_string, remote_env_name

#: How many alias remotes to follow before giving up.
_ALIAS_DEPTH = 5


def _config_type(conf: RcloneSettings, name: str, key: str) -> str | None:
    """Option ``key`` of remote ``name``: the environment first, then an unencrypted rclone.conf."""
    variable = remote_env_name(name, key)
    if variable in conf.rclone_env:
        return conf.rclone_env[variable]
    if variable in os.environ:
        return os.environ[variable]
    path = conf.rclone_config or conf.rclone_env.get("RCLONE_CONFIG") or os.environ.get("RCLONE_CONFIG")
    if path is None:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        path = os.path.join(base, "rclone", "rclone.conf")
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    return parser.get(name, key, fallback=None) if parser.has_section(name) else None


def local_folder(conf: RcloneSettings, remote: str | None = None, depth: int = 0) -> Path | None:
    """The real folder on this machine that ``remote`` (default: REMOTE) stores into, if it is local."""
    remote = conf.remote if remote is None else remote
    if remote.startswith("/"):
        return Path(os.path.realpath(remote))
    parsed = parse_connection_string(remote)
    if parsed is None or depth > _ALIAS_DEPTH:
        return None
    if parsed.on_the_fly:
        kind = parsed.name
        if kind == "local":
            return Path(os.path.realpath(parsed.path or "."))
        return None
    kind = _config_type(conf, parsed.name, "type") or ""
    if kind == "local":
        return Path(os.path.realpath(parsed.path or "."))
    if kind == "alias":
        target = _config_type(conf, parsed.name, "remote")
        if target:
            joined = target.rstrip("/") + "/" + parsed.path if parsed.path else target
            return local_folder(conf, joined, depth + 1)
    return None


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def media_overlaps(conf: RcloneSettings) -> list[str]:
    """Why MEDIA_ROOT overlaps a local REMOTE's folders (empty when it does not)."""
    media_root = getattr(django_settings, "MEDIA_ROOT", "")
    if not media_root:
        return []
    root = local_folder(conf)
    if root is None:
        return []
    media = Path(os.path.realpath(media_root))
    problems = []
    for key, folder in (("DB_BACKUP_DIR", conf.db_backup_dir), ("MEDIA_BACKUP_DIR", conf.media_backup_dir)):
        target = Path(os.path.realpath(root / folder))
        if _overlap(media, target):
            if media == target:
                how = "is"
            elif media.is_relative_to(target):
                how = "is inside"
            else:
                how = "contains"
            problems.append(f"MEDIA_ROOT ({media}) {how} the {key} folder of REMOTE ({target})")
    return problems


def refuse_media_overlap(conf: RcloneSettings) -> None:
    """Raise when MEDIA_ROOT and a local REMOTE's backup folders overlap (see the module docstring)."""
    problems = media_overlaps(conf)
    if problems:
        raise DjangoRcloneError(
            f"{problems[0]}; a media sync there would delete or expose backups. Give MEDIA_ROOT and "
            "REMOTE separate folders (see docs/configuration.md)."
        )
