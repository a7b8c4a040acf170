"""Retention: keep the newest ``DB_CLEANUP_KEEP`` committed backups of one alias.

Only names that parse as backups of the given alias are ever considered, and the backup the
current run just made is protected whatever the clock says.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from django_rclone import catalog
from django_rclone.catalog import BackupEntry
from django_rclone.conf import RcloneSettings
from django_rclone.rclone import Rclone


def plan(
    conf: RcloneSettings, rclone: Rclone, database: str, keep: int, protect: Iterable[str] = ()
) -> list[BackupEntry]:
    """Committed backups of ``database`` beyond the newest ``keep``, oldest last."""
    protected = set(protect)
    entries = catalog.committed(conf, rclone, database)
    kept = [e for e in entries if e.name in protected]
    candidates = [e for e in entries if e.name not in protected]
    room = max(keep - len(kept), 0)
    return candidates[room:]


def clean(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int,
    protect: Iterable[str] = (),
    dry_run: bool = False,
) -> list[BackupEntry]:
    """Delete what ``plan`` selects (manifest first, so a half-deleted backup is no longer listed)."""
    doomed = plan(conf, rclone, database, keep, protect)
    if not dry_run:
        for entry in doomed:
            rclone.deletefile(catalog.db_path(conf, entry.manifest_name))
            with contextlib.suppress(Exception):
                rclone.deletefile(catalog.db_path(conf, entry.name))
    return doomed
