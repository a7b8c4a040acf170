"""Verify backups without restoring them: stream each object and compare it with its manifest."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime, timezone

from django_rclone import catalog, interrupts, names, progress, signing
from django_rclone.catalog import BackupEntry
from django_rclone.conf import get_settings
from django_rclone.exceptions import DjangoRcloneError, FileTooLarge, Interrupted
from django_rclone.interrupts import interruptible
from django_rclone.manifest import KIND_PRE_RESTORE, Manifest
from django_rclone.operations.restore import stored_compression
from django_rclone.pipeline import stream_digest
from django_rclone.rclone import Rclone
from django_rclone.stages import rclone_stage


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking one backup."""

    name: str
    database: str
    ok: bool
    problem: str = ""
    size: int = 0
    sha256: str = ""
    age_hours: float = 0.0
    #: Decoded size when the backup was decoded (``decode=True``), else ``None``.
    uncompressed_size: int | None = None


def verify_backup(name: str, max_age_hours: float | None = None, *, decode: bool = False) -> VerifyResult:
    """Stream backup ``name`` through SHA-256 and compare size and checksum with its manifest; with
    ``SIGNING_KEY`` set, an unsigned or badly signed manifest is a problem too.

    The stored bytes are what is checked. With ``decode`` the stream is also decompressed on the
    way (its codec from the manifest), which proves the frames are complete and intact and checks
    the manifest's uncompressed size.
    """
    conf = get_settings()
    rclone = Rclone.from_settings(conf)
    path = catalog.db_path(conf, name)
    database = names.owner(conf, name, catalog.configured_aliases()) or ""
    parsed = names.parse(conf, name, database) if database else None
    age = (datetime.now(timezone.utc) - parsed.timestamp).total_seconds() / 3600 if parsed else 0.0
    if rclone.stat(path) is None:
        return VerifyResult(name, database, False, "the backup object does not exist")
    if rclone.stat(path + names.MANIFEST_SUFFIX) is None:
        return VerifyResult(name, database, False, "no manifest: the backup never completed or was copied by hand")
    try:
        manifest = Manifest.from_bytes(rclone.cat_bytes(path + names.MANIFEST_SUFFIX))
    except (ValueError, TypeError, FileTooLarge) as exc:
        return VerifyResult(name, database, False, f"unreadable manifest ({exc})")
    problem = catalog.mismatch(conf, name, manifest)
    if problem:
        return VerifyResult(name, database, False, problem)
    progress.expect(manifest.size)
    try:
        compression = stored_compression(conf, name, manifest)  # a codec/extension mismatch fails too
        decoder = compression.decoder() if decode else None
        with interruptible(), interrupts.deferred():
            stats = stream_digest(rclone_stage(rclone.cat(path), "cat", rclone.secrets), decoder)
    except Interrupted:
        raise  # stops the whole run, not just this backup's check
    except DjangoRcloneError as exc:
        return VerifyResult(name, manifest.database, False, str(exc))
    problems = []
    if decode and manifest.uncompressed_size is not None and stats.uncompressed_size != manifest.uncompressed_size:
        problems.append(f"decoded size {stats.uncompressed_size} != manifest {manifest.uncompressed_size}")
    if stats.size != manifest.size:
        problems.append(f"size {stats.size} != manifest {manifest.size}")
    if stats.sha256 != manifest.sha256:
        problems.append(f"sha256 {stats.sha256[:16]}... != manifest {manifest.sha256[:16]}...")
    unsigned = signing.problem(manifest, conf.signing_keys)
    if unsigned:
        problems.append(unsigned)
    if max_age_hours is not None and age > max_age_hours:
        problems.append(f"newest backup is {age:.1f} h old (limit {max_age_hours:g} h)")
    return VerifyResult(
        name,
        manifest.database,
        not problems,
        "; ".join(problems),
        stats.size,
        stats.sha256,
        age,
        stats.uncompressed_size if decode else None,
    )


def _newest(database: str | None) -> tuple[list[BackupEntry], dict[str, str], VerifyResult | None]:
    """The committed backups (of ``database``, or all), the newest ordinary one per alias, and the
    failed result to report instead when ``database`` has none (an undo backup is no evidence that
    backups still run)."""
    conf = get_settings()
    entries = catalog.committed(conf, Rclone.from_settings(conf), database, with_manifests=True)
    if database is not None and not entries:
        return entries, {}, VerifyResult("", database, False, f"no backups of database {database!r}")
    newest: dict[str, str] = {}
    for entry in entries:  # newest first
        if entry.kind != KIND_PRE_RESTORE:
            newest.setdefault(entry.database, entry.name)
    if database is not None and not newest:
        problem = f"no backups of database {database!r} except pre-restore undo backups"
        return entries, newest, VerifyResult("", database, False, problem)
    return entries, newest, None


def verify_latest(
    database: str | None = None, max_age_hours: float | None = None, *, decode: bool = False
) -> list[VerifyResult]:
    """Verify the newest committed backup of ``database``, or of every alias found on the remote."""
    _, newest, missing = _newest(database)
    if missing is not None:
        return [missing]
    return [verify_backup(name, max_age_hours, decode=decode) for name in newest.values()]


def sample_period(percent: float) -> int:
    """Days a ``--sample percent`` rotation takes to re-read every backup: ``floor(100 / percent)``.

    Each day re-reads the backups in one of that many slots, so the share per day is ``1/period``,
    which is at least ``percent`` (``--sample 30`` re-reads a third each day, everything in 3 days).
    """
    if not 0 < percent <= 100:
        raise ValueError(f"sample percent must be above 0 and at most 100, not {percent!r}")
    return max(1, math.floor(100 / percent))


def in_sample(name: str, percent: float, day: date) -> bool:
    """Whether backup ``name`` is re-read on ``day``: its slot (a hash of the name, fixed for the
    backup's life) is the day's slot. Stateless, so the remote is only read, and a backup's turn
    does not move when others are added or deleted."""
    period = sample_period(percent)
    slot = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % period
    return slot == day.toordinal() % period


def sampled(names_: list[str], percent: float, day: date | None = None) -> list[str]:
    """The names among ``names_`` whose turn is ``day`` (default: today in UTC)."""
    day = day or datetime.now(timezone.utc).date()
    return [name for name in names_ if in_sample(name, percent, day)]


def verify_sample(
    percent: float,
    database: str | None = None,
    max_age_hours: float | None = None,
    day: date | None = None,
    *,
    decode: bool = False,
) -> list[VerifyResult]:
    """The newest backup of each alias (checked against ``max_age_hours``) plus the share of all
    committed backups whose turn is ``day`` (see ``in_sample()``), each verified once.

    Run daily, every backup is re-read at least once every ``sample_period(percent)`` days.
    """
    entries, newest, missing = _newest(database)
    if missing is not None:
        return [missing]
    results = [verify_backup(name, max_age_hours, decode=decode) for name in newest.values()]
    for name in sampled([e.name for e in entries], percent, day):
        if name not in newest.values():
            results.append(verify_backup(name, decode=decode))
    return results
