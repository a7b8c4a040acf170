"""Database restore: pick a backup, verify it against its manifest while streaming it in."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from django_rclone import catalog, names
from django_rclone.conf import get_settings
from django_rclone.exceptions import BackupNotFound, DjangoRcloneError, IntegrityError
from django_rclone.interrupts import interruptible
from django_rclone.manifest import Manifest
from django_rclone.pipeline import Expected, stream_digest, stream_restore
from django_rclone.plugins import get_host
from django_rclone.rclone import Rclone
from django_rclone.resolution import resolve
from django_rclone.signals import post_db_restore, pre_db_restore, send_after
from django_rclone.stages import rclone_stage, tool_stage


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore."""

    database: str
    name: str
    path: str
    size: int
    sha256: str
    duration: float
    verified: bool
    manifest: Manifest | None
    warnings: list[str] = field(default_factory=list)


def _load_manifest(rclone: Rclone, path: str) -> Manifest | None:
    if rclone.stat(path + names.MANIFEST_SUFFIX) is None:
        return None
    raw = rclone.cat_bytes(path + names.MANIFEST_SUFFIX)
    try:
        return Manifest.from_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise IntegrityError(f"the manifest of {path} is unreadable ({exc}); restore with --skip-verify") from exc


def select(database: str, input_path: str | None = None) -> str:
    """The backup name to restore: ``input_path`` (checked) or the newest committed one."""
    conf = get_settings()
    if input_path:
        return names.check_name(input_path)
    entries = catalog.committed(conf, Rclone.from_settings(conf), database)
    if not entries:
        raise BackupNotFound(f"no backups of database {database!r} in {catalog.db_folder(conf)}")
    return entries[0].name


def restore(
    database: str = "default",
    *,
    input_path: str | None = None,
    verify: bool = True,
    sender: Any = None,
) -> RestoreResult:
    """Restore ``database`` from a backup (the newest, or ``input_path``).

    With a manifest, the stream's size and SHA-256 must match, and the restore tool only receives
    the end of the stream once they do. Without one (hand-copied or older backups) the restore runs
    unverified and the result carries a warning.
    """
    conf = get_settings()
    rclone = Rclone.from_settings(conf)
    host = get_host()
    connector = resolve(database, host).connector
    name = select(database, input_path)
    path = catalog.db_path(conf, name)
    record = rclone.stat(path)
    if record is None:
        raise BackupNotFound(f"backup {name!r} does not exist in {catalog.db_folder(conf)}")
    warnings: list[str] = []
    manifest = _load_manifest(rclone, path)
    expected = None
    if manifest is None:
        warnings.append(f"{name} has no manifest: restoring without a size and checksum check")
    elif not verify:
        warnings.append("checksum verification skipped (--skip-verify)")
    else:
        expected = Expected(size=manifest.size, sha256=manifest.sha256)
        if int(record.get("Size", -1)) not in (manifest.size, -1):
            raise IntegrityError(
                f"{name} is {record.get('Size')} bytes on the remote but its manifest says {manifest.size}; "
                "nothing was restored (use --skip-verify to restore it anyway)"
            )
    if connector.verify_before_restore and expected is not None:
        with interruptible():
            check = stream_digest(rclone_stage(rclone.cat(path), "cat"))
        if (check.size, check.sha256) != (expected.size, expected.sha256):
            raise IntegrityError(f"{name} does not match its manifest (checked before restoring); nothing was restored")
    pre_db_restore.send(sender=sender, database=database, connector=connector, path=name)
    for connection in connections.all(initialized_only=True):  # no backend import for unopened aliases
        if connection.alias == database:
            connection.close()
    clock = time.monotonic()
    try:
        with interruptible():
            connector.prepare_restore()
            cat = rclone.cat(path)
            try:
                proc = host.restore(connector, database, subprocess.PIPE)
            except BaseException:
                rclone_stage(cat, "cat").stop()
                raise
            try:
                stats = stream_restore(rclone_stage(cat, "cat"), tool_stage(proc, connector, "RESTORE"), expected)
            except DjangoRcloneError:
                connector.restore_finished()  # its own error, if any, is the root cause
                raise
            connector.restore_finished()
    finally:
        connector.cleanup()
    result = RestoreResult(
        database=database,
        name=name,
        path=path,
        size=stats.size,
        sha256=stats.sha256,
        duration=time.monotonic() - clock,
        verified=expected is not None,
        manifest=manifest,
        warnings=warnings,
    )
    send_after(post_db_restore, sender=sender, database=database, connector=connector, path=name, result=result)
    return result
