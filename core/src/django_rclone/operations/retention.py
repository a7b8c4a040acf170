"""Retention: apply the alias's policy to its committed backups; sweep stale orphans.

The policy comes from ``DB_RETENTION`` (keep the newest N, GFS daily/weekly/monthly/yearly counts,
an age), else keeps the newest ``DB_CLEANUP_KEEP``; ``keep`` (``--keep``) replaces it for one run.
Only names that parse as backups of the given alias are ever considered, and the backup the
current run just made is protected whatever the clock says. Orphans (data objects whose manifest
was never written: a run that died) are removed once they are older than ``ORPHAN_GRACE``, so a
backup still being written by another process is never touched.

Undo backups (manifest ``kind`` ``"pre-restore"``, taken by ``dbrestore`` before it replaces a
database) are outside the policy: they neither count against ``LAST``/GFS nor are kept by it, and
are deleted once older than ``PRE_RESTORE_KEEP_DAYS``.
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
from django_rclone.retention_policy import Decision, RetentionPolicy, decide

ORPHAN_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class Doomed:
    """A backup retention will delete, and why."""

    entry: BackupEntry
    reason: str

    @property
    def name(self) -> str:
        return self.entry.name


def policy_for(conf: RcloneSettings, database: str, keep: int | None = None) -> RetentionPolicy:
    """``keep`` as "the newest N" when given, else the alias's configured policy."""
    if keep is not None:
        return RetentionPolicy(last=keep)
    return conf.db_retention.for_database(database, conf.db_cleanup_keep)


def _split_undo(
    conf: RcloneSettings, rclone: Rclone, committed: list[BackupEntry]
) -> tuple[list[BackupEntry], list[BackupEntry]]:
    """``committed`` split into (ordinary backups, pre-restore undo backups), by their manifests.

    A manifest that cannot be read counts as an ordinary backup (the policy keeps judging it).
    """
    kinds = catalog.manifests(conf, rclone, [e.name for e in committed]) if committed else {}
    undo = {name for name, manifest in kinds.items() if manifest.pre_restore}
    return [e for e in committed if e.name not in undo], [e for e in committed if e.name in undo]


def decisions(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int | None = None,
    protect: Iterable[str] = (),
    now: datetime | None = None,
) -> list[Decision]:
    """The policy's verdict on every ordinary committed backup of ``database``, newest first, with
    reasons (undo backups are outside the policy)."""
    ordinary, _ = _split_undo(conf, rclone, catalog.committed(conf, rclone, database))
    return _verdicts(conf, database, ordinary, keep, protect, now or datetime.now(timezone.utc))


def _verdicts(
    conf: RcloneSettings,
    database: str,
    committed: list[BackupEntry],
    keep: int | None,
    protect: Iterable[str],
    moment: datetime,
) -> list[Decision]:
    entries = [(e.name, e.timestamp) for e in committed]
    return decide(entries, policy_for(conf, database, keep), moment, frozenset(protect))


def plan(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int | None = None,
    protect: Iterable[str] = (),
    now: datetime | None = None,
) -> list[Doomed]:
    """What to delete for ``database``: committed backups the policy does not keep, stale orphans."""
    protected = set(protect)
    moment = now or datetime.now(timezone.utc)
    policy = policy_for(conf, database, keep)
    entries = catalog.scan(conf, rclone, database)
    committed, undo = _split_undo(conf, rclone, [e for e in entries if e.committed])
    verdicts = {d.name: d for d in _verdicts(conf, database, committed, keep, protected, moment)}
    if policy.last_only:
        why = f"beyond the newest {policy.last} backups of {database!r}"
    else:
        why = f"not kept by the retention policy of {database!r} ({policy.describe()})"
    doomed = [Doomed(e, why) for e in committed if not verdicts[e.name].kept]
    undo_cutoff = moment - timedelta(days=conf.pre_restore_keep_days)
    for entry in undo:
        if entry.name not in protected and entry.timestamp <= undo_cutoff:
            doomed.append(Doomed(entry, f"pre-restore undo backup older than {conf.pre_restore_keep_days:g} days"))
    cutoff = moment - ORPHAN_GRACE
    for entry in entries:
        if not entry.committed and entry.name not in protected and entry.timestamp < cutoff:
            doomed.append(Doomed(entry, "orphan: no manifest (its run never finished) and older than 24 h"))
    return doomed


def clean(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int | None = None,
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
