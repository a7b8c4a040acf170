"""The Python API: the same operations the management commands run, for Celery, cron or code."""

from __future__ import annotations

from django_rclone import catalog, copies
from django_rclone.catalog import BackupEntry
from django_rclone.conf import get_settings
from django_rclone.operations.backup import BackupResult, backup
from django_rclone.operations.drill import DrillResult, drill
from django_rclone.operations.media import MediaResult, media_backup, media_restore
from django_rclone.operations.restore import RestoreResult, restore
from django_rclone.rclone import Rclone

__all__ = [
    "BackupEntry",
    "BackupResult",
    "DrillResult",
    "MediaResult",
    "RestoreResult",
    "backup",
    "drill",
    "list_backups",
    "media_backup",
    "media_restore",
    "restore",
]


def list_backups(
    database: str | None = None,
    *,
    limit: int | None = None,
    with_manifests: bool = True,
    problems: list[str] | None = None,
) -> list[BackupEntry]:
    """Database backups on the remote, newest first: committed ones and ones made elsewhere.

    ``database`` keeps one alias (the one each backup's manifest names; for a backup without a
    manifest, the one its name reads as), ``limit`` the newest N. Each entry carries ``name``,
    ``path``, ``size``, ``created`` and ``verified`` (``False`` for a backup without a usable
    manifest: a 0.1.0 or hand-copied backup, or one whose manifest describes another object), and
    ``sha256`` and the rest of the manifest (``entry.manifest``) when it has one. Manifests are
    always read (one rclone call for the whole folder); ``with_manifests`` is accepted for
    compatibility.
    Each entry also carries ``remotes``: ``REMOTE`` and each remote in ``COPIES`` holding a
    complete copy; a copy remote that cannot be listed counts as holding nothing, and why is
    appended to ``problems`` when given.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit!r}")
    conf = get_settings()
    rclone = Rclone.from_settings(conf)
    entries = catalog.listed(conf, rclone, database, limit=limit)
    annotated, unreadable = copies.annotate(conf, rclone, entries, database)
    if problems is not None:
        problems.extend(unreadable)
    return annotated
