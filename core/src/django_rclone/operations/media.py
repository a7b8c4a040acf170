"""Media backup and restore with ``rclone sync``, guarded against wiping a copy by accident.

``rclone sync`` makes the destination match the source, deleting what the source lacks. An empty
or missing source would therefore erase the other side, so both directions refuse that unless
``allow_empty`` is given.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from django_rclone.conf import get_settings
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.failures import SYNC, reached, reports_failures
from django_rclone.interrupts import interruptible
from django_rclone.local_paths import refuse_media_overlap
from django_rclone.rclone import Rclone, join
from django_rclone.signals import (
    media_backup_failed,
    media_restore_failed,
    post_media_backup,
    post_media_restore,
    pre_media_backup,
    pre_media_restore,
    send_after,
)


@dataclass(frozen=True)
class MediaResult:
    source: str
    destination: str
    duration: float
    #: Symlinks below MEDIA_ROOT that were not copied (MEDIA_FOLLOW_SYMLINKS is off), relative to it.
    skipped_symlinks: tuple[str, ...] = ()


def media_root() -> Path:
    root = getattr(django_settings, "MEDIA_ROOT", "")
    if not root:
        raise ImproperlyConfigured("MEDIA_ROOT is not set; media commands need it to know what to back up.")
    return Path(root)


def media_remote() -> str:
    conf = get_settings()
    return join(conf.remote, conf.media_backup_dir)


def _has_files(root: Path) -> bool:
    if not root.is_dir():
        return False
    return any(files for _dirpath, _dirs, files in os.walk(root))


def symlinks(root: Path) -> tuple[str, ...]:
    """Symlinks below ``root`` (files and folders, not followed), relative to it and sorted."""
    found: list[str] = []
    for dirpath, dirs, files in os.walk(root):
        for entry in (*dirs, *files):
            path = Path(dirpath) / entry
            if path.is_symlink():
                found.append(str(path.relative_to(root)))
    return tuple(sorted(found))


def _sync(rclone: Rclone, source: str, destination: str, backup_dir: str | None, follow: bool = False) -> float:
    extra = ["--backup-dir", backup_dir] if backup_dir else []
    if follow:
        extra.append("--copy-links")
    clock = time.monotonic()
    with interruptible():
        rclone.sync(source, destination, *extra)
    return time.monotonic() - clock


@reports_failures(media_backup_failed)
def media_backup(*, allow_empty: bool = False, backup_dir: str | None = None, sender: Any = None) -> MediaResult:
    """Make the remote media folder match MEDIA_ROOT (incremental)."""
    root = media_root()
    conf = get_settings()
    refuse_media_overlap(conf)
    if not allow_empty and not _has_files(root):
        state = "does not exist" if not root.exists() else "has no files"
        raise DjangoRcloneError(
            f"MEDIA_ROOT ({root}) {state}; syncing it would delete the remote media copy. "
            "Pass --allow-empty if that is really what you want."
        )
    rclone = Rclone.from_settings(conf)
    destination = media_remote()
    skipped = () if conf.media_follow_symlinks or not root.is_dir() else symlinks(root)
    pre_media_backup.send(sender=sender, source=str(root), destination=destination)
    if root.exists() or allow_empty:
        root.mkdir(parents=True, exist_ok=True)
    reached(SYNC)
    duration = _sync(rclone, str(root), destination, backup_dir, conf.media_follow_symlinks)
    result = MediaResult(str(root), destination, duration, skipped)
    send_after(post_media_backup, sender=sender, source=str(root), destination=destination, result=result)
    return result


@reports_failures(media_restore_failed)
def media_restore(*, allow_empty: bool = False, backup_dir: str | None = None, sender: Any = None) -> MediaResult:
    """Make MEDIA_ROOT match the remote media folder."""
    root = media_root()
    conf = get_settings()
    refuse_media_overlap(conf)
    rclone = Rclone.from_settings(conf)
    source = media_remote()
    if not allow_empty and not rclone.lsjson(source, files_only=False):
        raise DjangoRcloneError(
            f"the remote media folder {source} is empty or missing; restoring it would delete every file in "
            f"MEDIA_ROOT ({root}). Pass --allow-empty if that is really what you want."
        )
    pre_media_restore.send(sender=sender, source=source, destination=str(root))
    root.mkdir(parents=True, exist_ok=True)
    reached(SYNC)
    duration = _sync(rclone, source, str(root), backup_dir, conf.media_follow_symlinks)
    result = MediaResult(source, str(root), duration)
    send_after(post_media_restore, sender=sender, source=source, destination=str(root), result=result)
    return result
