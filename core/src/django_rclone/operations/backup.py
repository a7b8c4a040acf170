"""Database backup: resolve, stream the dump into ``rclone rcat``, write the manifest last."""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from django_rclone import __version__, catalog, codecs, names, progress
from django_rclone.codecs import Compression
from django_rclone.conf import get_settings
from django_rclone.db.base import BaseConnector
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.failures import COMMIT, DUMP, RETENTION, reached, reports_failures
from django_rclone.interrupts import interruptible, shield
from django_rclone.local_paths import refuse_media_overlap
from django_rclone.locks import alias_lock
from django_rclone.manifest import Manifest
from django_rclone.operations import retention
from django_rclone.pipeline import StreamStats, stream_backup
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


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _free_name(conf: Any, rclone: Rclone, database: str, ext: str, servername: str) -> tuple[str, datetime]:
    """A name no other backup uses; waits for the next tick of DB_DATE_FORMAT rather than clobber."""
    for _ in range(5):
        started = datetime.now(timezone.utc)
        name = names.render(conf, database, ext, started, servername)
        path = catalog.db_path(conf, name)
        if rclone.stat(path) is None and rclone.stat(path + names.MANIFEST_SUFFIX) is None:
            return name, started
        time.sleep(1.0 - started.microsecond / 1_000_000 + 0.01)
    raise DjangoRcloneError(
        f"backup name {name!r} is taken on the remote; add more precision to DB_DATE_FORMAT (e.g. %f)"
    )


def _chosen_name(conf: Any, rclone: Rclone, name: str, compression: Compression) -> tuple[str, datetime]:
    """``output_filename``: a plain name that no backup or manifest on the remote uses yet.

    The codec's extension is added unless the name already ends with it, so that a restore by name
    (and a restore by hand) knows how to decode it; a name ending with another codec's is refused.
    """
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
    path = catalog.db_path(conf, name)
    if rclone.stat(path) is not None or rclone.stat(path + names.MANIFEST_SUFFIX) is not None:
        raise DjangoRcloneError(f"{name!r} already exists in {catalog.db_folder(conf)}; choose another output filename")
    return name, datetime.now(timezone.utc)


@reports_failures(db_backup_failed, "database", path=None)
def backup(
    database: str = "default",
    *,
    clean: bool = False,
    servername: str = "",
    sender: Any = None,
    output_filename: str | None = None,
    connector_options: dict[str, Any] | None = None,
) -> BackupResult:
    """Back up one database alias to the remote and return what was written.

    The data object is deleted again if anything fails, and the manifest (the commit record) is
    written only after every process exited 0 and the connector's ``check_dump()`` accepted the
    dump's head, tail and stderr (before the upload was allowed to complete). Backups of one
    alias to one remote run one at a time on this host (``locks.alias_lock``).

    ``output_filename`` replaces the name from ``DB_FILENAME_TEMPLATE`` (it must be a free, plain
    name); ``connector_options`` override connector options for this run (``run_options``). A
    failure sends ``db_backup_failed`` with the stage before the exception propagates.
    """
    conf = get_settings()
    refuse_media_overlap(conf)
    rclone = Rclone.from_settings(conf)
    rclone.version()  # cached; refuses a RCLONE_BINARY that is not rclone before anything runs
    if clean:
        retention.policy_for(conf, database)  # an invalid policy fails now, not after the upload
    host = get_host()
    resolution = resolve(database, host)
    connector = resolution.connector
    apply_run_options(connector, connector_options or {})
    compression = codecs.NO_COMPRESSION if connector.output_compressed else conf.compression_for(database)
    connector.stage_compression = compression.codec
    ext = host.extension(connector, database)
    stored_ext = f"{ext}.{compression.extension}" if compression.enabled else ext
    pre_db_backup.send(sender=sender, database=database, connector=connector)
    clock = time.monotonic()
    try:
        with interruptible(), alias_lock(conf.remote, database):
            if output_filename:
                name, started = _chosen_name(conf, rclone, output_filename, compression)
            else:
                name, started = _free_name(conf, rclone, database, stored_ext, servername)
            path = catalog.db_path(conf, name)
            reached(DUMP, path=name)
            if progress.active() is not None:  # the estimate may cost a query: only for a display
                progress.expect(_estimate(connector), estimated=True)
            try:
                stats = _stream(host, connector, database, rclone, path, compression)
                metadata = connector.dump_finished()
                reached(COMMIT)
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
                    tool_versions={"rclone": rclone.version(), **connector.tool_versions()},
                    host=servername or socket.gethostname(),
                    metadata=metadata,
                )
                rclone.rcat_bytes(path + names.MANIFEST_SUFFIX, manifest.to_bytes())
            except BaseException:
                with shield():
                    _discard(rclone, path)
                raise
    finally:
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
    if clean:
        reached(RETENTION)
        deleted = retention.clean(conf, rclone, database, protect={name})
        result = replace(result, cleaned=[d.name for d in deleted])
    return result


def _stream(
    host: PluginHost, connector: BaseConnector, database: str, rclone: Rclone, path: str, compression: Compression
) -> StreamStats:
    """Start the dump and ``rclone rcat`` and pump one into the other through the compression stage."""
    dump = host.dump(connector, database)
    try:
        rcat = rclone.rcat(path)
    except BaseException:
        tool_stage(dump, connector, "DUMP").stop()
        raise
    return stream_backup(
        tool_stage(dump, connector, "DUMP"),
        rclone_stage(rcat, "rcat", rclone.secrets),
        sample=StreamSample(),
        check=lambda sample: host.check_dump(connector, database, sample),
        encoder=compression.encoder(),
    )


def _estimate(connector: BaseConnector) -> int | None:
    """The connector's guess of the dump's size for the progress line; a broken guess is no guess."""
    method = getattr(connector, "estimated_size", None)  # adapted structural connectors lack it
    if method is None:
        return None
    try:
        size = method()
    except Exception:
        return None
    return size if isinstance(size, int) and size > 0 else None


def _discard(rclone: Rclone, path: str) -> None:
    """Best-effort removal of a failed run's manifest and data object."""
    for leftover in (path + names.MANIFEST_SUFFIX, path):
        with contextlib.suppress(Exception):
            if rclone.stat(leftover) is not None:
                rclone.deletefile(leftover)
