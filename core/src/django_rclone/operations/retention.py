"""Retention: apply the alias's policy to its backups; sweep what interrupted runs left.

The policy comes from ``DB_RETENTION`` (keep the newest N, GFS daily/weekly/monthly/yearly counts,
an age), else keeps the newest ``DB_CLEANUP_KEEP``; ``keep`` (``--keep``) replaces it for one run.
It counts and ages every backup of the alias (``catalog``: the alias its manifest names), those
made elsewhere without a manifest included, and the backup the current run just made is protected
whatever the clock says. Orphan clean-up deletes only what a run of ours provably left: an object
with a run marker and no manifest, once every marker is older than ``ORPHAN_GRACE`` (so a backup
still being written elsewhere is never touched), and markers left without an object or beside a
committed backup. An object with neither manifest nor marker is never an orphan.

Undo backups (manifest ``kind`` ``"pre-restore"``, taken by ``dbrestore`` before it replaces a
database) are outside the policy: they neither count against ``LAST``/GFS nor are kept by it, and
are deleted once older than ``PRE_RESTORE_KEEP_DAYS``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from django_rclone import catalog
from django_rclone.catalog import ORPHAN_GRACE, BackupEntry, Marker
from django_rclone.conf import RcloneSettings
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.rclone import Rclone
from django_rclone.retention_policy import Decision, RetentionPolicy, decide

__all__ = ["ORPHAN_GRACE", "Doomed", "clean", "decisions", "plan", "policy_for"]


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


def _undo(entry: BackupEntry) -> bool:
    """Whether ``entry`` is an undo backup (its manifest says ``kind`` ``"pre-restore"``)."""
    return entry.manifest is not None and entry.manifest.pre_restore


def decisions(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int | None = None,
    protect: Iterable[str] = (),
    now: datetime | None = None,
) -> list[Decision]:
    """The policy's verdict on every backup of ``database`` (committed or made elsewhere), newest
    first, with reasons (undo backups are outside the policy)."""
    counted = [e for e in catalog.listed(conf, rclone, database) if not _undo(e)]
    return _verdicts(conf, database, counted, keep, protect, now or datetime.now(timezone.utc))


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
    """What to delete for ``database``: backups the policy does not keep, and orphans of our runs."""
    return _plan(conf, rclone, database, keep, protect, now)[0]


def _plan(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int | None,
    protect: Iterable[str],
    now: datetime | None,
) -> tuple[list[Doomed], list[Marker]]:
    """``plan`` plus the stale markers to remove (left without an object, or beside a commit)."""
    protected = set(protect)
    moment = now or datetime.now(timezone.utc)
    policy = policy_for(conf, database, keep)
    listing = catalog.read(conf, rclone, database)
    counted = [e for e in listing.entries if e.restorable and not _undo(e)]
    verdicts = {d.name: d for d in _verdicts(conf, database, counted, keep, protected, moment)}
    if policy.last_only:
        why = f"beyond the newest {policy.last} backups of {database!r}"
    else:
        why = f"not kept by the retention policy of {database!r} ({policy.describe()})"
    doomed = [Doomed(e, why) for e in counted if not verdicts[e.name].kept]
    undo_cutoff = moment - timedelta(days=conf.pre_restore_keep_days)
    for entry in listing.entries:
        if _undo(entry) and entry.name not in protected and entry.timestamp <= undo_cutoff:
            doomed.append(Doomed(entry, f"pre-restore undo backup older than {conf.pre_restore_keep_days:g} days"))
    for entry in listing.entries:
        if entry.name not in protected and entry.orphan(moment):
            doomed.append(Doomed(entry, "orphan: an interrupted run's upload (marker, no manifest, older than 24 h)"))
    cutoff = moment - ORPHAN_GRACE
    stale = [m for m in listing.stray_markers if m.modified is not None and m.modified < cutoff]
    stale += [
        m for e in listing.entries if e.committed for m in e.markers if m.modified is not None and m.modified < cutoff
    ]
    return doomed, stale


def clean(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int | None = None,
    protect: Iterable[str] = (),
    dry_run: bool = False,
) -> list[Doomed]:
    """Delete what ``plan`` selects (manifest first, so a half-deleted backup is no longer listed;
    an orphan's marker last, so an object whose deletion failed stays provably ours)."""
    doomed, stale = _plan(conf, rclone, database, keep, protect, None)
    if not dry_run:
        for item in doomed:
            if item.entry.committed:
                rclone.deletefile(catalog.db_path(conf, item.entry.manifest_name))
            if _delete(rclone, catalog.db_path(conf, item.entry.name)):  # else keep its markers for next time
                for marker in item.entry.markers:
                    _delete(rclone, catalog.db_path(conf, marker.filename))
        for marker in stale:
            _delete(rclone, catalog.db_path(conf, marker.filename))
    return doomed


def _delete(rclone: Rclone, path: str) -> bool:
    """Delete one object, best effort: whether it is gone."""
    try:
        rclone.deletefile(path)
    except DjangoRcloneError:
        return False
    return True


def clean_everywhere(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str,
    keep: int | None = None,
    protect: Iterable[str] = (),
    dry_run: bool = False,
    skip: Iterable[str] = (),
) -> list[Doomed]:
    """``clean`` on ``REMOTE`` and then on each remote in ``COPIES`` but those in ``skip`` (each with
    its own policy, if it has one); a copy remote's deletions carry its name in ``reason``."""
    doomed = clean(conf, rclone, database, keep, protect, dry_run)
    for copy in conf.copies:
        if copy.remote in skip:
            continue
        for item in clean(conf.for_copy(copy), rclone, database, keep, protect, dry_run):
            doomed.append(Doomed(item.entry, f"{item.reason} (on {copy.remote})"))
    return doomed
