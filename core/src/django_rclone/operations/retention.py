"""Retention: keep the newest ``keep`` committed backups of one alias; sweep stale orphans.

Only names that parse as backups of the given alias are ever considered, and the backup the
current run just made is protected whatever the clock says. Orphans (data objects whose manifest
was never written: a run that died) are removed once they are older than ``ORPHAN_GRACE``, so a
backup still being written by another process is never touched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from django_rclone import catalog
from django_rclone.catalog import BackupEntry
from django_rclone.conf import RcloneSettings
from django_rclone.rclone import Rclone

ORPHAN_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class Doomed:
    """A backup retention will delete, and why."""

    entry: BackupEntry
    reason: str

    @property
    def name(self) -> str:
        return self.entry.name


def plan(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int,
    protect: Iterable[str] = (),
    now: datetime | None = None,
) -> list[Doomed]:
    """What to delete for ``database``: committed backups beyond the newest ``keep``, stale orphans."""
    protected = set(protect)
    entries = catalog.scan(conf, rclone, database)
    committed = [e for e in entries if e.committed]
    kept = [e for e in committed if e.name in protected]
    candidates = [e for e in committed if e.name not in protected]
    room = max(keep - len(kept), 0)
    doomed = [Doomed(e, f"beyond the newest {keep} backups of {database!r}") for e in candidates[room:]]
    cutoff = (now or datetime.now(timezone.utc)) - ORPHAN_GRACE
    for entry in entries:
        if not entry.committed and entry.name not in protected and entry.timestamp < cutoff:
            doomed.append(Doomed(entry, "orphan: no manifest (its run never finished) and older than 24 h"))
    return doomed


def clean(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int,
    protect: Iterable[str] = (),
    dry_run: bool = False,
) -> list[Doomed]:
    """Delete what ``plan`` selects (manifest first, so a half-deleted backup is no longer listed)."""
    doomed = plan(conf, rclone, database, keep, protect)
    if not dry_run:
        for item in doomed:
            if item.entry.committed:
                rclone.deletefile(catalog.db_path(conf, item.entry.manifest_name))
            with contextlib.suppress(Exception):
                rclone.deletefile(catalog.db_path(conf, item.entry.name))
    return doomed
