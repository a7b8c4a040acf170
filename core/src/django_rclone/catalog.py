"""What is on the remote: committed backups, orphans and their order.

One ``rclone lsjson`` of the backup folder answers every question here (no per-object calls), so
listing and retention stay fast with thousands of objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django_rclone import names
from django_rclone.conf import RcloneSettings
from django_rclone.rclone import Rclone, join


@dataclass(frozen=True)
class BackupEntry:
    """One database backup on the remote."""

    name: str
    database: str
    timestamp: datetime
    size: int
    modified: str
    committed: bool

    @property
    def manifest_name(self) -> str:
        return names.manifest_name(self.name)


def db_folder(conf: RcloneSettings) -> str:
    return join(conf.remote, conf.db_backup_dir)


def db_path(conf: RcloneSettings, name: str) -> str:
    return join(conf.remote, conf.db_backup_dir, names.check_name(name))


def scan(conf: RcloneSettings, rclone: Rclone, database: str | None = None) -> list[BackupEntry]:
    """Every backup made by this template (committed or orphaned), newest first."""
    records = rclone.lsjson(db_folder(conf))
    present = {r["Name"] for r in records}
    entries = []
    for record in records:
        name = record["Name"]
        if name.endswith(names.MANIFEST_SUFFIX):
            continue
        parsed = names.parse(conf, name)
        if parsed is None or (database is not None and parsed.database != database):
            continue
        entries.append(
            BackupEntry(
                name=name,
                database=parsed.database,
                timestamp=parsed.timestamp,
                size=int(record.get("Size", 0)),
                modified=str(record.get("ModTime", "")),
                committed=names.manifest_name(name) in present,
            )
        )
    entries.sort(key=lambda e: (e.timestamp, e.name), reverse=True)
    return entries


def committed(conf: RcloneSettings, rclone: Rclone, database: str | None = None) -> list[BackupEntry]:
    """Backups whose manifest exists, newest first."""
    return [e for e in scan(conf, rclone, database) if e.committed]
