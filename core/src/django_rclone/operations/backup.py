"""Database backup: resolve, stream the dump into ``rclone rcat``, write the manifest last."""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import random
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from django.db import connections

from django_rclone import __version__, catalog, codecs, copies, interrupts, names, progress, rcd, signing
from django_rclone.codecs import Compression
from django_rclone.conf import get_settings
from django_rclone.db.base import BaseConnector
from django_rclone.exceptions import CopyFailed, DjangoRcloneError, FileTooLarge, Interrupted, NameConflict
from django_rclone.failures import COMMIT, COPY, DUMP, RETENTION, reached, reports_failures
from django_rclone.interrupts import interruptible, shield
from django_rclone.local_paths import refuse_media_overlap
from django_rclone.locks import alias_lock
from django_rclone.manifest import KIND_BACKUP, KINDS, Manifest
from django_rclone.operations import retention
from django_rclone.pipeline import StreamStats, abandon, stream_backup
from django_rclone.plugins import PluginHost, get_host
from django_rclone.rclone import Rclone
from django_rclone.resolution import resolve
from django_rclone.run_options import apply_run_options
from django_rclone.sample import StreamSample
from django_rclone.signals import db_backup_failed, post_db_backup, pre_db_backup, send_after
from django_rclone.stages import rclone_stage, tool_stage


@dataclass(frozen=True)
class BackupResult:
    """A finished, committed database backup."""

    database: str
    name: str
    path: str
    size: int
    sha256: str
    duration: float
    manifest: Manifest
    cleaned: list[str] = field(default_factory=list)
    #: Bytes the dump tool wrote, before the compression stage (``size`` is what was stored).
    uncompressed_size: int = 0
    #: The remotes in ``COPIES`` that now hold a complete copy.
    copies: list[str] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


#: How many names a run tries before giving up when other runs keep claiming the same ones.
CLAIM_ATTEMPTS = 8
#: Before committing, how often (and how many seconds apart) to look again while a rival marker is there.
RIVAL_CHECKS = 10
RIVAL_PAUSE = 0.5


@dataclass(frozen=True)
class Claim:
    """A name this run owns on the remote: its marker is the only one and nothing else uses it."""

    name: str
    started: datetime
    run_id: str
    marker: str

    def marker_path(self, conf: Any) -> str:
        return catalog.db_path(conf, self.marker)


def _marker_body(run_id: str, name: str, database: str, servername: str, started: datetime) -> bytes:
    body = {
        "run_id": run_id,
        "name": name,
        "database": database,
        "host": servername or socket.gethostname(),
        "pid": os.getpid(),
        "started": _iso(started),
    }
    return (json.dumps(body, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class _Seen:
    """What one listing of the folder says about a name."""

    object: bool
    manifest: bool
    rivals: list[str]


def _look(conf: Any, rclone: Rclone, name: str, run_id: str) -> _Seen:
    """The object, its manifest and the other runs' markers for ``name``, from one listing."""
    files = [r["Name"] for r in rclone.lsjson(catalog.db_folder(conf))]
    rivals = []
    for filename in files:
        split = names.split_marker(filename)
        if split and split[0] == name and split[1] != run_id:
            rivals.append(filename)
    return _Seen(name in files, names.manifest_name(name) in files, rivals)


def _claim(conf: Any, rclone: Rclone, database: str, ext: str, servername: str, output_filename: str | None) -> Claim:
    """Choose a name and make it this run's: write a marker, then list the folder.

    The run keeps the name only if its marker is the only one for it and neither the object nor a
    manifest exists; otherwise it removes its marker and tries a new name (a fixed
    ``output_filename`` fails instead). Two runs that write their markers at the same moment both
    see each other and both retry after a random pause, so at most one of them ever uploads.
    """
    run_id = uuid.uuid4().hex
    name = output_filename or ""
    if output_filename and names.parse(conf, output_filename) and not names.parse(conf, output_filename, database):
        raise DjangoRcloneError(
            f"{output_filename!r} reads as a backup of another database under DB_FILENAME_TEMPLATE; "
            f"choose a name that does not (its manifest will say it belongs to {database!r})"
        )
    for _attempt in range(CLAIM_ATTEMPTS):
        started = datetime.now(timezone.utc)
        name = (
            names.check_new_name(output_filename)
            if output_filename
            else names.render(conf, database, ext, started, servername)
        )
        marker = names.marker_name(name, run_id)
        marker_path = catalog.db_path(conf, marker)
        try:
            rclone.rcat_bytes(marker_path, _marker_body(run_id, name, database, servername, started))
            seen = _look(conf, rclone, name, run_id)
        except BaseException:  # an interrupt or a failed listing: the marker goes now, not at the next sweep
            with shield(), contextlib.suppress(Exception):
                rclone.deletefile(marker_path)
            raise
        if not (seen.object or seen.manifest or seen.rivals):
            return Claim(name, started, run_id, marker)
        with shield():
            rclone.deletefile(marker_path)
        if output_filename and not (seen.object or seen.manifest):
            raise NameConflict(
                f"another run is writing {name!r} in {catalog.db_folder(conf)} ({seen.rivals[0]}); "
                "nothing was backed up; choose another output filename"
            )
        if output_filename:
            raise DjangoRcloneError(
                f"{name!r} already exists in {catalog.db_folder(conf)}; choose another output filename"
            )
        # A name the clock gives again next second; a random pause keeps two rivals from meeting again.
        time.sleep(1.0 - datetime.now(timezone.utc).microsecond / 1_000_000 + random.uniform(0.01, 1.0))  # noqa: S311 - jitter, not a secret
    raise NameConflict(
        f"could not claim a backup name for database {database!r} in {catalog.db_folder(conf)} after "
        f"{CLAIM_ATTEMPTS} tries (last {name!r}): other runs keep writing the same names. Add more precision "
        "to DB_DATE_FORMAT (e.g. %f) or {servername} to DB_FILENAME_TEMPLATE"
    )


def _check_landed(conf: Any, rclone: Rclone, claim: Claim, size: int) -> None:
    """Before committing: the object holds the bytes this run uploaded and no other run claims it."""
    path = catalog.db_path(conf, claim.name)
    # The object's own record and the first listing are independent reads: one rclone start apart.
    with ThreadPoolExecutor(1, thread_name_prefix="django-rclone-stat") as pool:
        stat = pool.submit(contextvars.copy_context().run, rclone.stat, path)  # in the run's daemon session
        seen = _look(conf, rclone, claim.name, claim.run_id)
        record = stat.result()
    if record is None or int(record.get("Size", -1)) not in (size, -1):
        found = "nothing" if record is None else f"{record.get('Size')} bytes"
        raise NameConflict(
            f"after uploading {size} bytes to {claim.name}, the remote holds {found} there: another run or "
            "process wrote the same name; this run's backup is not committed"
        )
    # A rival marker that appears now is usually a run that saw ours and is backing off: give it a
    # moment to remove it. One that stays is a run that claimed the same name too (a remote whose
    # listing lagged): neither may commit then.
    for _ in range(RIVAL_CHECKS - 1):
        if seen.manifest or not seen.rivals:
            break
        time.sleep(RIVAL_PAUSE)
        seen = _look(conf, rclone, claim.name, claim.run_id)
    if seen.rivals or seen.manifest:
        raise NameConflict(
            f"another run claimed {claim.name} while this run uploaded it "
            f"({', '.join(seen.rivals) or 'its manifest appeared'}); this run's backup is not committed"
        )


def _commit(conf: Any, rclone: Rclone, claim: Claim, manifest: Manifest) -> None:
    """Write the manifest, read it back to see it is this run's, then drop the marker."""
    path = catalog.db_path(conf, names.manifest_name(claim.name))
    rclone.rcat_bytes(path, manifest.to_bytes())
    try:
        landed = Manifest.from_bytes(rclone.cat_bytes(path))
    except (ValueError, TypeError, FileTooLarge) as exc:
        raise NameConflict(f"the manifest of {claim.name} reads back unreadable ({exc}); not committed") from exc
    if (landed.run_id, landed.sha256, landed.size) != (claim.run_id, manifest.sha256, manifest.size):
        raise NameConflict(
            f"the manifest of {claim.name} reads back as another run's ({landed.run_id or 'no run id'}); "
            "this run's backup is not committed"
        )


def _with_codec_extension(name: str, compression: Compression) -> str:
    """``output_filename`` with the codec's extension added unless it already ends with it, so that a
    restore by name (and a restore by hand) knows how to decode it; another codec's is refused."""
    names.check_name(name)
    _, named_codec = codecs.split_extension(name)
    if named_codec != compression.codec and named_codec != codecs.NONE:
        raise DjangoRcloneError(
            f"output filename {name!r} ends with the {named_codec} extension but this backup is compressed with "
            f"{compression.label()}; drop the extension or set COMPRESSION for this database"
        )
    if compression.enabled and named_codec == codecs.NONE:
        name = f"{name}.{compression.extension}"
        names.check_name(name)
    return name


@reports_failures(db_backup_failed, "database", path=None)
def backup(
    database: str = "default",
    *,
    clean: bool = False,
    servername: str = "",
    sender: Any = None,
    output_filename: str | None = None,
    connector_options: dict[str, Any] | None = None,
    kind: str = KIND_BACKUP,
) -> BackupResult:
    """Back up one database alias to the remote and return what was written.

    The run first claims a name with a marker object (``_claim``), so runs on other hosts never
    write the same name; the data object is deleted again if anything fails, and the manifest (the
    commit record) is written only after every process exited 0, the connector's ``check_dump()``
    accepted the dump's head, tail and stderr (before the upload was allowed to complete), and the
    object on the remote has the size this run uploaded. Backups of one alias to one remote run one
    at a time on this host (``locks.alias_lock``, up to ``LOCK_TIMEOUT`` seconds of waiting).

    ``output_filename`` replaces the name from ``DB_FILENAME_TEMPLATE`` (it must be a free, plain
    name); ``connector_options`` override connector options for this run (``run_options``);
    ``kind`` is recorded in the manifest (``"pre-restore"`` for the undo backup ``dbrestore``
    takes). A failure sends ``db_backup_failed`` with the stage before the exception propagates.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    conf = get_settings()
    refuse_media_overlap(conf)
    rclone = Rclone.from_settings(conf)
    with rclone.checked_meanwhile():  # refuses a RCLONE_BINARY that is not rclone before anything runs
        if clean:
            retention.policy_for(conf, database)  # an invalid policy fails now, not after the upload
        host = get_host()
        resolution = resolve(database, host)
    with rcd.session(rclone):  # the small calls from the claim to the clean-up: one rclone start
        connector = resolution.connector
        apply_run_options(connector, connector_options or {})
        compression = codecs.NO_COMPRESSION if connector.output_compressed else conf.compression_for(database)
        connector.stage_compression = compression.codec
        ext = host.extension(connector, database)
        stored_ext = f"{ext}.{compression.extension}" if compression.enabled else ext
        pre_db_backup.send(sender=sender, database=database, connector=connector)
        clock = time.monotonic()
        try:
            with (
                interruptible(),
                alias_lock(conf.remote, database, conf.lock_timeout),
                ThreadPoolExecutor(1, thread_name_prefix="django-rclone-versions") as pool,
            ):
                versions = pool.submit(_tool_versions, connector)  # while the name is claimed and the dump runs
                chosen = _with_codec_extension(output_filename, compression) if output_filename else None
                claim = _claim(conf, rclone, database, stored_ext, servername, chosen)
                name, started = claim.name, claim.started
                path = catalog.db_path(conf, name)
                try:  # from here on, any failure or interrupt removes what this run wrote, marker included
                    reached(DUMP, path=name)
                    if progress.active() is not None:  # the estimate may cost a query: only for a display
                        progress.expect(_estimate(connector), estimated=True)
                    stats = _stream(host, connector, database, rclone, path, compression)
                    metadata = connector.dump_finished()
                    reached(COMMIT)
                    _check_landed(conf, rclone, claim, stats.size)
                    manifest = Manifest(
                        name=name,
                        database=database,
                        engine=resolution.engine,
                        connector=resolution.connector_path,
                        extension=ext,
                        compression=compression.codec,
                        compression_level=compression.level,
                        uncompressed_size=stats.uncompressed_size,
                        size=stats.size,
                        sha256=stats.sha256,
                        started_at=_iso(started),
                        finished_at=_iso(datetime.now(timezone.utc)),
                        django_rclone_version=__version__,
                        tool_versions={"rclone": rclone.version(), **versions.result()},
                        host=servername or socket.gethostname(),
                        metadata=metadata,
                        kind=kind,
                        run_id=claim.run_id,
                    )
                    if conf.signing_keys:
                        manifest = signing.sign(manifest, conf.signing_keys[0])
                    interrupts.check()  # a Ctrl-C that connector code swallowed still stops the commit
                    _commit(conf, rclone, claim, manifest)
                except NameConflict:
                    raise  # the name is contested: touch nothing there; our marker makes our leftovers sweepable
                except BaseException:
                    with shield():
                        _discard(conf, rclone, claim)
                    raise
                with shield(), contextlib.suppress(Exception):
                    rclone.deletefile(claim.marker_path(conf))  # committed; a marker left behind is swept later
        finally:
            with shield():  # a second Ctrl-C must not stop a connector's cleanup half-way
                connector.cleanup()
        result = BackupResult(
            database=database,
            name=name,
            path=path,
            size=stats.size,
            sha256=stats.sha256,
            duration=time.monotonic() - clock,
            manifest=manifest,
            uncompressed_size=stats.uncompressed_size,
        )
        send_after(post_db_backup, sender=sender, database=database, connector=connector, path=name, result=result)
        failed: CopyFailed | None = None
        if conf.copies and kind == KIND_BACKUP:  # an undo backup stays where the restore can find it
            reached(COPY)
            try:
                result = replace(
                    result, copies=[c.remote for c in copies.replicate(conf, database, name, sender=sender)]
                )
            except CopyFailed as exc:  # retention still runs; the failure is raised after it
                failed = exc
        if clean:
            reached(RETENTION)
            skip = {remote for remote, _, _ in failed.failures} if failed else set()
            deleted = retention.clean_everywhere(conf, rclone, database, protect={name}, skip=skip)
            result = replace(result, cleaned=[d.name for d in deleted])
        if failed is not None:
            reached(COPY, remote=failed.remote)
            raise failed
        return result


def _stream(
    host: PluginHost, connector: BaseConnector, database: str, rclone: Rclone, path: str, compression: Compression
) -> StreamStats:
    """Start the dump and ``rclone rcat`` and pump one into the other through the compression stage.

    Whatever can fail without a process is built first; between starting the processes and
    ``stream_backup`` taking charge of them, any exception (a connector's broken ``tool_label`` or
    ``dump_report``) stops both, rcat before its input closes (``abandon``); a Ctrl-C in that gap
    is held back until the pipeline supervises them (``interrupts.deferred``)."""
    encoder = compression.encoder()
    dump = rcat = None
    # The encoder is closed on every path (also when the supervision raises before its own block);
    # a Ctrl-C from here on is raised once the pipeline supervises both processes.
    with contextlib.closing(encoder), interrupts.deferred():
        try:
            dump = host.dump(connector, database)
            rcat = rclone.rcat(path)
            producer = tool_stage(dump, connector, "DUMP")
            consumer = rclone_stage(rcat, "rcat", rclone.secrets)
        except BaseException:
            with shield():
                abandon(*(proc for proc in (rcat, dump) if proc is not None))
            raise
        return stream_backup(
            producer,
            consumer,
            sample=StreamSample(),
            check=lambda sample: host.check_dump(connector, database, sample),
            encoder=encoder,
        )


def _tool_versions(connector: BaseConnector) -> dict[str, str]:
    """``connector.tool_versions()``, run on a worker thread beside the backup: informational, so the
    few ``--version`` runs it costs overlap the upload instead of adding to it. A connector that
    asked Django's database layer closes that thread's connections here."""
    try:
        return connector.tool_versions()
    finally:
        connections.close_all()


def _estimate(connector: BaseConnector) -> int | None:
    """The connector's guess of the dump's size for the progress line; a broken guess is no guess."""
    method = getattr(connector, "estimated_size", None)  # adapted structural connectors lack it
    if method is None:
        return None
    try:
        size = method()
    except Interrupted:
        raise
    except Exception:
        return None
    interrupts.check()  # the connector may have caught the interrupt itself
    return size if isinstance(size, int) and size > 0 else None


def _discard(conf: Any, rclone: Rclone, claim: Claim) -> None:
    """Best-effort removal of what a failed run wrote under its claim: its manifest (only if it is
    this run's), the object, then the marker; the marker stays if the object could not be removed,
    so orphan clean-up can prove it a leftover of ours later."""
    path = catalog.db_path(conf, claim.name)
    with contextlib.suppress(Exception):
        mine = Manifest.from_bytes(rclone.cat_bytes(path + names.MANIFEST_SUFFIX))
        if mine.run_id == claim.run_id:
            rclone.deletefile(path + names.MANIFEST_SUFFIX)
    try:
        if rclone.stat(path) is not None:
            rclone.deletefile(path)
    except Exception:  # the marker keeps the leftover provably ours
        return
    with contextlib.suppress(Exception):
        rclone.deletefile(claim.marker_path(conf))
