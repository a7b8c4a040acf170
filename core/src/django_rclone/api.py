"""The Python API: the same operations the management commands run, for Celery, cron or code."""

from __future__ import annotations

from django_rclone import catalog
from django_rclone.catalog import BackupEntry
from django_rclone.conf import get_settings
from django_rclone.operations.backup import BackupResult, backup
from django_rclone.operations.media import MediaResult, media_backup, media_restore
from django_rclone.operations.restore import RestoreResult, restore
from django_rclone.rclone import Rclone

__all__ = [
    "BackupEntry",
    "BackupResult",
    "MediaResult",
    "RestoreResult",
    "backup",
    "list_backups",
    "media_backup",
    "media_restore",
    "restore",
]


def list_backups(database: str | None = None) -> list[BackupEntry]:
    """Committed database backups on the remote, newest first, optionally for one alias."""
    conf = get_settings()
    return catalog.committed(conf, Rclone.from_settings(conf), database)
