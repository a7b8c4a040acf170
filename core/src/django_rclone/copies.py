"""Copies of every backup on further remotes (``COPIES``), for a 3-2-1 setup.

After a backup commits on ``REMOTE`` it is copied to each remote in ``COPIES`` with ``rclone
copyto`` (server-side when both paths are on the same remote; rclone streams between different
ones and checks a hash both sides support). The copy is committed the same way as the primary:
the data object first, its size checked with ``lsjson`` against the primary's manifest, then the
primary's manifest, byte for byte, last. A copy counts (for listing, restore fallback and
``synccopies``) only when its manifest equals the primary's and its size matches.

A failed copy never touches the primary: it sends ``db_copy_failed`` (and pings ``copy``) with
the stage ``"copy"`` and the remote, and ``CopyFailed`` is raised once every remote was tried.
``sync_copies`` (``synccopies``) fills what is missing or mismatching, so re-running after an
outage repairs the copies without a new backup.

Every other module reaches a copy remote through ``RcloneSettings.for_copy``: the same catalog
and retention code, with the copy as ``remote``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from django_rclone import catalog, names, progress
from django_rclone.catalog import BackupEntry
from django_rclone.conf import CopyRemote, RcloneSettings
from django_rclone.exceptions import CopyFailed, DjangoRcloneError, FileTooLarge, IntegrityError, Interrupted
from django_rclone.failures import COPY, reached, reports_failures
from django_rclone.interrupts import interruptible, shield
from django_rclone.manifest import Manifest
from django_rclone.rclone import Rclone
from django_rclone.signals import db_copy_failed, post_db_copy, pre_db_copy, send_after


@dataclass(frozen=True)
class CopyResult:
    """One backup on one copy remote: copied now, or found complete already."""

    database: str
    name: str
    remote: str
    size: int
    duration: float
    #: ``False`` when the remote already held a complete copy (its manifest equals the primary's).
    copied: bool = True


@dataclass(frozen=True)
class SyncResult:
    """What ``sync_copies`` did: the copies it made and those it found complete."""

    copied: list[CopyResult] = field(default_factory=list)
    present: int = 0


def shown(conf: RcloneSettings) -> str:
    """The remote of ``conf`` as messages, signals and listings show it (secret values masked)."""
    return conf.remote_display or conf.remote


def remote_names(conf: RcloneSettings) -> list[str]:
    """Every remote that may hold backups, as shown: ``REMOTE`` first, then ``COPIES`` in order."""
    return [shown(conf), *(copy.display or copy.remote for copy in conf.copies)]


def find_copy(conf: RcloneSettings, remote: str) -> CopyRemote | None:
    """The entry of ``COPIES`` for ``remote``, given as rclone gets it or as it is shown."""
    wanted = remote.rstrip("/") or remote
    return next((copy for copy in conf.copies if wanted in (copy.remote, copy.display)), None)


def settings_for(conf: RcloneSettings, remote: str) -> RcloneSettings:
    """The settings to reach ``remote`` (``REMOTE`` or a remote in ``COPIES``) with."""
    wanted = remote.rstrip("/") or remote
    if wanted in (conf.remote, conf.remote_display):
        return conf
    copy = find_copy(conf, wanted)
    if copy is not None:
        return conf.for_copy(copy)
    raise DjangoRcloneError(
        f"{remote!r} is neither REMOTE nor a remote in COPIES; use one of: {', '.join(remote_names(conf))}"
    )


def sources(conf: RcloneSettings, chosen: str | None = None) -> list[RcloneSettings]:
    """Where a restore may read from, in order: only ``chosen`` when given, else every remote."""
    if chosen:
        return [settings_for(conf, chosen)]
    return [conf, *(conf.for_copy(copy) for copy in conf.copies)]


def _copy_conf(conf: RcloneSettings, remote: str) -> RcloneSettings:
    copy = find_copy(conf, remote)
    return conf.for_copy(copy if copy is not None else CopyRemote(remote, remote))


def holds(entry: BackupEntry, copy: BackupEntry | None) -> bool:
    """Whether ``copy`` (the same name on a copy remote) is a complete copy of ``entry``: committed,
    the same size, and (when both manifests were read) the same manifest."""
    if copy is None or not copy.committed or copy.size != entry.size:
        return False
    if entry.manifest is not None or copy.manifest is not None:
        return entry.manifest == copy.manifest
    return True


@reports_failures(db_copy_failed, "database", "remote", path=None)
def copy_backup(
    database: str,
    name: str,
    remote: str,
    *,
    sender: Any = None,
    conf: RcloneSettings | None = None,
) -> CopyResult:
    """Copy the committed backup ``name`` (of ``database``) from ``REMOTE`` to ``remote``.

    Nothing is done when ``remote`` already holds it with the primary's exact manifest. Otherwise
    a mismatching manifest there is removed first (so nothing half-copied looks committed), the
    object is copied, its size checked, and the primary's manifest written last and read back. A
    failure removes what this call wrote on ``remote``, never anything on ``REMOTE``.
    """
    from django_rclone.conf import get_settings

    conf = conf or get_settings()
    rclone = Rclone.from_settings(conf)
    reached(COPY, path=name)
    target = _copy_conf(conf, remote)
    remote = shown(target)  # what messages and receivers see
    source_path = catalog.db_path(conf, name)
    path = catalog.db_path(target, name)
    clock = time.monotonic()
    with interruptible():
        raw = rclone.cat_bytes(source_path + names.MANIFEST_SUFFIX)
        manifest = Manifest.from_bytes(raw)
        if manifest.name != name:
            raise IntegrityError(f"the manifest of {name} on {shown(conf)} names {manifest.name!r}; not copied")
        record = rclone.stat(source_path)
        if record is None or int(record.get("Size", -1)) != manifest.size:
            size = None if record is None else record.get("Size")
            raise IntegrityError(
                f"{name} on {shown(conf)} is {size} bytes but its manifest says {manifest.size}; not copied"
            )
        pre_db_copy.send(sender=sender, database=database, path=name, remote=remote)
        existing = rclone.stat(path + names.MANIFEST_SUFFIX)
        if existing is not None:
            held = rclone.stat(path)
            try:
                same = rclone.cat_bytes(path + names.MANIFEST_SUFFIX) == raw
            except FileTooLarge:  # not a manifest of ours: replaced like any other that differs
                same = False
            if same and held and held.get("Size") == manifest.size:
                result = CopyResult(database, name, remote, manifest.size, time.monotonic() - clock, copied=False)
                send_after(post_db_copy, sender=sender, database=database, path=name, remote=remote, result=result)
                return result
            rclone.deletefile(path + names.MANIFEST_SUFFIX)  # uncommit the mismatching copy first
        try:
            progress.expect(manifest.size)
            reporter = progress.active()
            if reporter is None:
                rclone.run("copyto", source_path, path)
            else:
                rclone.run_reporting(reporter, "copyto", source_path, path)
            copied = rclone.stat(path)
            if copied is None or int(copied.get("Size", -1)) != manifest.size:
                size = None if copied is None else copied.get("Size")
                raise IntegrityError(f"the copy of {name} on {remote} is {size} bytes, not {manifest.size}")
            rclone.rcat_bytes(path + names.MANIFEST_SUFFIX, raw)
            if rclone.cat_bytes(path + names.MANIFEST_SUFFIX) != raw:
                raise IntegrityError(f"the manifest of {name} on {remote} does not read back as written")
        except BaseException:
            with shield():
                _discard(rclone, path)
            raise
    result = CopyResult(database, name, remote, manifest.size, time.monotonic() - clock)
    send_after(post_db_copy, sender=sender, database=database, path=name, remote=remote, result=result)
    return result


def _discard(rclone: Rclone, path: str) -> None:
    for leftover in (path + names.MANIFEST_SUFFIX, path):
        with contextlib.suppress(Exception):
            if rclone.stat(leftover) is not None:
                rclone.deletefile(leftover)


def _failure(remote: str, name: str, exc: BaseException) -> tuple[str, str, str]:
    return (remote, name, str(exc) or type(exc).__name__)


def _raise(failures: list[tuple[str, str, str]], done: int) -> None:
    if failures:
        first = "; ".join(f"{name or 'listing'} to {remote}: {error}" for remote, name, error in failures[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        raise CopyFailed(
            f"{len(failures)} cop{'y' if len(failures) == 1 else 'ies'} failed ({done} done): {first}{more}. "
            "The backups on REMOTE are complete; run `manage.py synccopies` to fill the missing copies",
            failures,
        )


def replicate(conf: RcloneSettings, database: str, name: str, *, sender: Any = None) -> list[CopyResult]:
    """Copy a just-committed backup to every remote in ``COPIES``; ``CopyFailed`` after trying all."""
    results: list[CopyResult] = []
    failures: list[tuple[str, str, str]] = []
    for copy in conf.copies:
        try:
            results.append(copy_backup(database, name, copy.remote, sender=sender, conf=conf))
        except Interrupted:
            raise
        except DjangoRcloneError as exc:
            failures.append(_failure(copy.display or copy.remote, name, exc))
    _raise(failures, len(results))
    return results


def sync_copies(
    database: str | None = None,
    *,
    remotes: Iterable[str] | None = None,
    sender: Any = None,
    dry_run: bool = False,
) -> SyncResult:
    """Copy every committed backup on ``REMOTE`` that a copy remote lacks (or holds with a missing
    or different manifest). ``database`` limits it to one alias, ``remotes`` to some copies.

    With ``dry_run`` nothing is copied and ``copied`` lists what would be (``duration`` 0). Every
    remote is tried; ``CopyFailed`` lists the failures at the end.
    """
    from django_rclone.conf import get_settings

    conf = get_settings()
    rclone = Rclone.from_settings(conf)
    wanted = [settings_for(conf, remote).remote for remote in remotes] if remotes is not None else None
    if wanted is not None and conf.remote in wanted:
        raise DjangoRcloneError(f"{shown(conf)} is REMOTE itself; name a remote from COPIES")
    entries = catalog.committed(conf, rclone, database, with_manifests=True)
    result = SyncResult()
    failures: list[tuple[str, str, str]] = []
    for copy in conf.copies:
        if wanted is not None and copy.remote not in wanted:
            continue
        try:
            held = {e.name: e for e in catalog.committed(conf.for_copy(copy), rclone, database, with_manifests=True)}
        except DjangoRcloneError as exc:
            where = copy.display or copy.remote
            send_after(
                db_copy_failed, sender=sender, database=database, path=None, remote=where, exception=exc, stage=COPY
            )
            failures.append(_failure(where, "", exc))
            continue
        for entry in entries:
            if holds(entry, held.get(entry.name)):
                result = replace(result, present=result.present + 1)
                continue
            if dry_run:
                result.copied.append(CopyResult(entry.database, entry.name, copy.display, entry.size, 0.0))
                continue
            try:
                result.copied.append(copy_backup(entry.database, entry.name, copy.remote, sender=sender, conf=conf))
            except Interrupted:  # SIGINT/SIGTERM stops the whole run, not just this copy
                raise
            except DjangoRcloneError as exc:
                failures.append(_failure(copy.display or copy.remote, entry.name, exc))
    _raise(failures, len(result.copied))
    return result


def annotate(
    conf: RcloneSettings, rclone: Rclone, entries: list[BackupEntry], database: str | None = None
) -> tuple[list[BackupEntry], list[str]]:
    """``entries`` (from ``REMOTE``) with ``remotes`` set: ``REMOTE`` first, then every copy remote
    that holds a complete copy. Also returns one problem line per copy remote that could not be read
    (those count as holding nothing)."""
    if not conf.copies:
        return [replace(e, remotes=(shown(conf),)) for e in entries], []
    held: dict[str, dict[str, BackupEntry]] = {}
    problems: list[str] = []
    for copy in conf.copies:
        try:
            found = catalog.committed(conf.for_copy(copy), rclone, database, with_manifests=True)
        except DjangoRcloneError as exc:
            problems.append(f"copy remote {copy.display or copy.remote} could not be listed: {exc}")
            found = []
        held[copy.display or copy.remote] = {e.name: e for e in found}
    annotated = []
    for entry in entries:
        where = [shown(conf), *(remote for remote, there in held.items() if holds(entry, there.get(entry.name)))]
        annotated.append(replace(entry, remotes=tuple(where)))
    return annotated, problems


def connect() -> None:
    """Start / success / failure pings for copies (operation ``copy``), from ``AppConfig.ready``."""
    from django_rclone import pings

    pings.watch("copy", started=pre_db_copy, succeeded=post_db_copy, failed=db_copy_failed)
