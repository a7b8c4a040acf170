"""What is on the remote: committed backups, orphans and their order.

One ``rclone lsjson`` of the backup folder answers every question here (no per-object calls), so
listing and retention stay fast with thousands of objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from django_rclone import codecs, names
from django_rclone.conf import RcloneSettings
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.manifest import Manifest
from django_rclone.rclone import EXIT_DIR_NOT_FOUND, Rclone, join


@dataclass(frozen=True)
class BackupEntry:
    """One database backup on the remote."""

    name: str
    database: str
    timestamp: datetime
    size: int
    modified: str
    committed: bool
    #: The object's full rclone path (remote, DB_BACKUP_DIR and name).
    path: str = ""
    #: The manifest, when it was asked for (``with_manifests``) and could be read.
    manifest: Manifest | None = None

    @property
    def manifest_name(self) -> str:
        return names.manifest_name(self.name)

    @property
    def sha256(self) -> str | None:
        """The SHA-256 recorded at backup time (``None`` without a loaded manifest)."""
        return self.manifest.sha256 if self.manifest else None

    @property
    def compression(self) -> str:
        """The codec: from the manifest when loaded, else from the name's extension (``.zst``, ``.gz``)."""
        if self.manifest is not None and isinstance(self.manifest.compression, str):
            return self.manifest.compression
        return codecs.split_extension(self.name)[1]

    @property
    def compression_ratio(self) -> float | None:
        """Uncompressed over stored size, from the manifest (``None`` without one, or for old backups)."""
        ratio = self.manifest.compression_ratio if self.manifest is not None else None
        return round(ratio, 3) if isinstance(ratio, float) else None

    @property
    def created(self) -> str:
        """When the backup started, from its name: ISO 8601 in UTC."""
        return self.timestamp.astimezone(timezone.utc).isoformat(timespec="seconds")

    def to_dict(self) -> dict[str, Any]:
        """Plain data with stable keys (``listbackups --json``; documented in docs/commands.md).

        Keys that come from the manifest are ``None`` when it was not loaded or is unreadable.
        """
        m = self.manifest
        return {
            "name": self.name,
            "database": self.database,
            "path": self.path,
            "size": self.size,
            "created": self.created,
            "modified": self.modified,
            "sha256": m.sha256 if m else None,
            "engine": m.engine if m else None,
            "connector": m.connector if m else None,
            "extension": m.extension if m else None,
            "started_at": m.started_at if m else None,
            "finished_at": m.finished_at if m else None,
            "duration": _duration(m),
            "host": m.host if m else None,
            "django_rclone_version": m.django_rclone_version if m else None,
            "tool_versions": dict(m.tool_versions) if m else None,
            "compression": self.compression,
            "compression_level": m.compression_level if m else None,
            "uncompressed_size": m.uncompressed_size if m else None,
            "compression_ratio": self.compression_ratio,
        }


def _duration(manifest: Manifest | None) -> float | None:
    """Seconds between the manifest's start and finish times (whole seconds, as they are recorded)."""
    if manifest is None:
        return None
    try:
        start = datetime.fromisoformat(manifest.started_at)
        finish = datetime.fromisoformat(manifest.finished_at)
    except (TypeError, ValueError):
        return None
    return (finish - start).total_seconds()


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
                path=db_path(conf, name),
            )
        )
    entries.sort(key=lambda e: (e.timestamp, e.name), reverse=True)
    return entries


def committed(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str | None = None,
    *,
    limit: int | None = None,
    with_manifests: bool = False,
) -> list[BackupEntry]:
    """Backups whose manifest exists, newest first; the newest ``limit``; manifests attached on request."""
    entries = [e for e in scan(conf, rclone, database) if e.committed]
    if limit is not None:
        entries = entries[:limit]
    if with_manifests and entries:
        found = manifests(conf, rclone, [e.name for e in entries])
        entries = [replace(e, manifest=found.get(e.name)) for e in entries]
    return entries


def manifests(conf: RcloneSettings, rclone: Rclone, wanted: list[str]) -> dict[str, Manifest]:
    """The manifests of the backups named in ``wanted``, by backup name; unreadable ones are left out.

    One ``rclone cat`` of every ``*.manifest.json`` in the folder (rclone concatenates them), so the
    cost does not grow with one call per backup. Any manifest that stream does not yield (an
    unreadable one stops the parse) is then read on its own.
    """
    found: dict[str, Manifest] = {}
    wanted_set = set(wanted)
    if len(wanted) > 1:
        done = rclone.run(
            "cat",
            "--include",
            "*" + names.MANIFEST_SUFFIX,
            "--max-depth",
            "1",
            db_folder(conf),
            ok=(0, EXIT_DIR_NOT_FOUND),
        )
        found.update({k: v for k, v in _parse_stream(done.stdout).items() if k in wanted_set})
    for name in wanted:
        if name in found:
            continue
        try:
            manifest = Manifest.from_bytes(rclone.cat_bytes(db_path(conf, names.manifest_name(name))))
        except (DjangoRcloneError, ValueError, TypeError):
            continue
        if manifest.name == name:
            found[name] = manifest
    return found


def _parse_stream(raw: bytes) -> dict[str, Manifest]:
    """Manifests from concatenated JSON documents, by the backup name each records; stops at garbage."""
    text = raw.decode(errors="replace")
    decoder = json.JSONDecoder()
    found: dict[str, Manifest] = {}
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            data, pos = decoder.raw_decode(text, pos)
            manifest = Manifest.from_bytes(json.dumps(data).encode())
        except (ValueError, TypeError):
            break
        found[manifest.name] = manifest
    return found
