"""Database restore: pick a backup, verify it against its manifest while streaming it in."""

from __future__ import annotations

import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from django_rclone import catalog, codecs, copies, gpg, interrupts, names, pings, progress, signing
from django_rclone.codecs import Compression
from django_rclone.conf import RcloneSettings, get_settings
from django_rclone.db.base import BaseConnector, database_settings
from django_rclone.exceptions import (
    BackupNotFound,
    DjangoRcloneError,
    FileTooLarge,
    IncompatibleBackup,
    IntegrityError,
    Interrupted,
    PipelineError,
    RcloneError,
    UndoBackupFailed,
    UnsignedBackup,
)
from django_rclone.failures import DOWNLOAD, PREPARE, RESTORE, UNDO, reached, reports_failures
from django_rclone.interrupts import interruptible, shield
from django_rclone.manifest import KIND_PRE_RESTORE, Manifest
from django_rclone.operations.backup import backup
from django_rclone.pipeline import Expected, Stage, StreamStats, abandon, stream_digest, stream_restore
from django_rclone.plugins import PluginHost, get_host
from django_rclone.rclone import Rclone
from django_rclone.resolution import Resolution, resolve
from django_rclone.run_options import apply_run_options
from django_rclone.signals import db_restore_failed, post_db_restore, pre_db_restore, send_after
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
    #: The remote the backup was read from: ``REMOTE``, or a remote in ``COPIES`` after a fallback.
    remote: str = ""
    #: The pre-restore backup of the database as it was before this restore (``None`` when
    #: ``undo_backup=False``): restoring it undoes this restore.
    undo: str | None = None

    @property
    def undo_command(self) -> str | None:
        """The command that puts the database back as it was before this restore."""
        if self.undo is None:
            return None
        return f"python manage.py dbrestore -d {shlex.quote(self.database)} -i {shlex.quote(self.undo)} --noinput"


def _load_manifest(
    conf: RcloneSettings, rclone: Rclone, name: str, path: str, lenient: bool = False
) -> Manifest | None:
    """The backup's manifest, ``None`` without one. An unreadable manifest, or one that describes
    another object (``catalog.mismatch``), is an error unless ``lenient`` (``--skip-verify``),
    where it is treated as absent."""
    # Its bytes are read beside its record, one rclone start instead of two in a row; what a read
    # of a missing manifest returns (an error, nothing on S3, a folder's files) is never used, and
    # the read is stopped. The read is bounded (rclone.SMALL_FILE_LIMIT).
    read = rclone.start_cat_bytes(path + names.MANIFEST_SUFFIX)
    try:
        if rclone.stat(path + names.MANIFEST_SUFFIX) is None:
            return None
        raw = read.result()
        manifest = Manifest.from_bytes(raw)
    except (ValueError, TypeError, FileTooLarge) as exc:
        if lenient:
            return None
        raise IntegrityError(f"the manifest of {path} is unreadable ({exc}); restore with --skip-verify") from exc
    finally:
        read.cancel()
    problem = catalog.mismatch(conf, name, manifest)
    if problem is None:
        return manifest
    if lenient:
        return None
    raise IntegrityError(
        f"refusing to restore {name}: {problem}; nothing was restored (--skip-verify restores it unchecked)"
    )


#: What makes a restore try the next remote in COPIES: the remote cannot be read, lacks the backup,
#: or its object does not match the manifest. Nothing has reached the database at that point.
FALLBACK_ERRORS = (RcloneError, PipelineError, BackupNotFound, IntegrityError)


def select(database: str, input_path: str | None = None, source: str | None = None) -> str:
    """The backup name to restore: ``input_path`` (checked) or the newest backup of ``database``
    (committed, or made elsewhere without a manifest; never one a run is still writing), on
    ``REMOTE`` or, when it cannot be read or holds none, the first remote in ``COPIES`` that has
    one (``source``: on that remote only)."""
    conf = get_settings()
    if input_path is not None:
        if not input_path.strip():
            raise BackupNotFound(
                "the backup name (--input-path) is empty; give a name as `listbackups` prints it, "
                "or leave the option out to restore the newest backup"
            )
        names.check_name(input_path)
        if names.is_reserved(input_path):
            names.check_new_name(input_path)  # raises: a manifest or a run marker is not a backup
        return input_path  # an unknown alias is refused when its connector resolves
    database_settings(database)  # an unknown alias: one line naming the known ones, not "no backups"
    candidates = copies.sources(conf, source)
    errors: list[RcloneError] = []
    only_undo = False
    for candidate in candidates:
        rclone = Rclone.from_settings(candidate)
        try:
            entries = catalog.listed(candidate, rclone, database)
            for entry in entries:  # newest first; the listing carries each manifest
                if entry.manifest is None or not entry.manifest.pre_restore:
                    return entry.name
        except RcloneError as exc:
            errors.append(exc)
            continue
        only_undo = only_undo or bool(entries)
    if len(errors) == len(candidates):
        raise errors[0]
    if only_undo:
        raise BackupNotFound(
            f"no backups of database {database!r} in {catalog.db_folder(candidates[0])} except pre-restore undo "
            "backups; name one with -i (input_path) to restore it"
        )
    raise BackupNotFound(f"no backups of database {database!r} in {catalog.db_folder(candidates[0])}")


def mismatches(resolution: Resolution, name: str, manifest: Manifest | None, extension: str) -> list[str]:
    """Why the backup ``name`` does not fit the target alias: another engine or connector.

    With a manifest, its ``engine`` must equal the target's, and its ``connector`` must be the
    target's connector or one it declares it reads (``reads_backups_of``, dotted paths of connectors
    writing the same format); without a manifest only the file extension can be compared. An
    empty list means the backup fits.
    """
    database = resolution.database
    if manifest is None:
        parsed = names.parse(get_settings(), name)
        full = gpg.strip(parsed.ext if parsed else name)
        if full == extension or full.endswith("." + extension):
            return []
        ext = codecs.split_extension(full)[0]  # without the stage's .zst / .gz
        ext = ext if parsed else ext.rpartition(".")[2]
        if ext != extension:
            return [f"it has the extension {ext!r} but the connector of {database!r} writes {extension!r}"]
        return []
    problems = []
    if manifest.engine != resolution.engine:
        problems.append(
            f"it was made from a database with ENGINE {manifest.engine!r}, but {database!r} uses {resolution.engine!r}"
        )
    readable = {resolution.connector_path, *getattr(resolution.connector, "reads_backups_of", ())}
    if manifest.connector not in readable:
        problems.append(
            f"it was made by {manifest.connector}, but {database!r} restores with {resolution.connector_path}"
        )
    return problems


@reports_failures(db_restore_failed, "database", path=None)
def prepare(
    database: str = "default",
    input_path: str | None = None,
    *,
    force: bool = False,
    verify: bool = True,
    sender: Any = None,
    allow_unsigned: bool = False,
    source: str | None = None,
) -> tuple[str, list[str]]:
    """What ``dbrestore`` settles before asking for confirmation: the backup to restore and notes
    about it. Refuses a backup that does not fit ``database`` (see ``check_compatible``); a failure
    sends ``db_restore_failed`` like a failed restore, so a nightly refresh that cannot run alerts."""
    name = select(database, input_path, source)
    reached(PREPARE, path=name)
    return name, check_compatible(database, name, force, verify, allow_unsigned, source)


def check_compatible(
    database: str,
    name: str,
    force: bool = False,
    verify: bool = True,
    allow_unsigned: bool = False,
    source: str | None = None,
) -> list[str]:
    """Refuse (``IncompatibleBackup``) a backup that does not fit ``database`` unless ``force``, and
    (``UnsignedBackup``) one that fails the ``SIGNING_KEY`` check unless ``allow_unsigned``.

    Returns notes worth telling the user (forced mismatches, a backup of another alias). The
    manifest is read from the first remote (``REMOTE``, then ``COPIES``; or ``source``) that has it.
    """
    host = get_host()
    resolution = resolve(database, host)  # an unknown alias is the first thing to report
    candidates = copies.sources(get_settings(), source)
    for index, conf in enumerate(candidates):
        try:
            _, _, manifest = _inspect(conf, Rclone.from_settings(conf), name, verify)
        except FALLBACK_ERRORS:
            if index == len(candidates) - 1:
                raise
            continue
        stored_compression(conf, name, manifest, host.extension(resolution.connector, database))
        notes = _signature_notes(conf, name, manifest, allow_unsigned)
        return notes + _compatibility_notes(conf, host, resolution, database, name, manifest, force)
    raise AssertionError("unreachable: copies.sources() is never empty")  # pragma: no cover


def _signature_notes(conf: RcloneSettings, name: str, manifest: Manifest | None, allow_unsigned: bool) -> list[str]:
    """With ``SIGNING_KEY`` set, refuse a backup whose manifest is missing, unsigned or badly signed
    (``UnsignedBackup``) unless ``allow_unsigned``; then return a note saying it was let through."""
    problem = signing.problem(manifest, conf.signing_keys)
    if not problem:
        return []
    if not allow_unsigned:
        raise UnsignedBackup(
            f"refusing to restore {name}: {problem}. Nothing was changed; pass --allow-unsigned "
            "(allow_unsigned=True) only if you know where this backup came from"
        )
    return [f"restoring despite the signature check (--allow-unsigned): {problem}"]


def stored_compression(
    conf: RcloneSettings, name: str, manifest: Manifest | None, connector_extension: str = ""
) -> Compression:
    """How backup ``name`` was compressed: by its manifest, else by its extension (``.zst``, ``.gz``).

    A ``.gz`` that belongs to the connector's own extension (``EXTENSION: "archive.gz"`` for a tool
    that gzips by itself) is not the stage's: the manifest's ``extension``, or without a manifest
    ``connector_extension``, tells them apart. A manifest naming another codec than the name does
    is refused (``IntegrityError``): one of them was changed by hand, and decoding by the wrong one
    would feed garbage to the restore tool.
    """
    parsed = names.parse(conf, name)
    ext = gpg.strip(parsed.ext if parsed else name)
    by_name = codecs.split_extension(ext)[1]
    if manifest is not None and gpg.is_encrypted(name):
        raise IncompatibleBackup(
            f"{name} is named as a GPG file (django-dbbackup's encryption) but has a manifest, which "
            "django-rclone never writes for one (adoptbackups skips them); refusing to guess which is wrong, "
            "nothing was restored"
        )
    if manifest is None:
        if connector_extension and (ext == connector_extension or ext.endswith("." + connector_extension)):
            return codecs.NO_COMPRESSION
        return codecs.parse(by_name)
    recorded = manifest.compression
    if not isinstance(recorded, str) or recorded not in codecs.EXTENSIONS:
        raise IncompatibleBackup(
            f"the manifest of {name} names the codec {recorded!r}, which this version of django-rclone cannot "
            "decode; nothing was restored"
        )
    own = manifest.extension if isinstance(manifest.extension, str) else ""
    if recorded == codecs.NONE and by_name != codecs.NONE and codecs.split_extension(own)[1] == by_name:
        return codecs.NO_COMPRESSION  # the codec-like suffix is the connector's own extension
    if recorded != by_name:
        ext = codecs.EXTENSIONS[by_name]
        raise IntegrityError(
            f"{name} is {'named ' + repr('.' + ext) if ext else 'named without a codec extension'} but its manifest "
            f"says it is compressed with {recorded!r}; refusing to guess which one is wrong, nothing was restored"
        )
    return codecs.parse(recorded)


def _inspect(
    conf: RcloneSettings, rclone: Rclone, name: str, verify: bool
) -> tuple[str, dict[str, Any], Manifest | None]:
    """The backup's remote path, its lsjson record and its manifest (``None`` if it has none);
    ``BackupNotFound`` if the object is missing."""
    path = catalog.db_path(conf, names.check_name(name))
    # The object and its manifest are read side by side (one rclone start each, not one after the
    # other); a missing object is reported first, whatever the manifest read said.
    with ThreadPoolExecutor(1, thread_name_prefix="django-rclone-manifest") as pool:
        manifest = pool.submit(_load_manifest, conf, rclone, name, path, lenient=not verify)
        record = rclone.stat(path)
        if record is None:
            raise BackupNotFound(f"backup {name!r} does not exist in {catalog.db_folder(conf)}")
        return path, record, manifest.result()


def _compatibility_notes(
    conf: RcloneSettings,
    host: PluginHost,
    resolution: Resolution,
    database: str,
    name: str,
    manifest: Manifest | None,
    force: bool,
) -> list[str]:
    problems = mismatches(resolution, name, manifest, host.extension(resolution.connector, database))
    if problems and not force:
        raise IncompatibleBackup(
            f"refusing to restore {name} into {database!r}: {'; '.join(problems)}. "
            "Nothing was changed; pass --force (force=True) if you are sure the restore tool can read it"
        )
    notes = [f"restoring despite a mismatch (--force): {p}" for p in problems]
    source = manifest.database if manifest else (names.owner(conf, name, catalog.configured_aliases()) or database)
    if source != database:
        notes.append(f"{name} is a backup of database {source!r}, restored into {database!r}")
    return notes


@reports_failures(db_restore_failed, "database", path=None)
def restore(
    database: str = "default",
    *,
    input_path: str | None = None,
    verify: bool = True,
    sender: Any = None,
    force: bool = False,
    connector_options: dict[str, Any] | None = None,
    allow_unsigned: bool = False,
    undo_backup: bool = True,
    source: str | None = None,
) -> RestoreResult:
    """Restore ``database`` from a backup (the newest, or ``input_path``).

    With a manifest, the stream's size and SHA-256 must match, and the restore tool only receives
    the end of the stream once they do. Without one (hand-copied or older backups) the restore runs
    unverified and the result carries a warning.

    With ``SIGNING_KEY`` set, a backup whose manifest is missing, unsigned or not signed by one of
    the keys is refused unless ``allow_unsigned``. A backup is untrusted input: a connector whose
    restore tool could run commands found in it (``restore_sandboxed()`` is false) only receives
    it after the whole object matched its manifest, read once before the restore.

    A backup made by another engine or connector than ``database`` uses is refused unless
    ``force``; ``connector_options`` override connector options for this run (``--no-drop``).

    With ``undo_backup`` (the default) the database is first backed up as it is, through the
    ordinary backup operation, with the manifest ``kind`` ``"pre-restore"``; its name is
    ``result.undo`` and ``result.undo_command`` restores it. If that backup fails, nothing is
    restored (``UndoBackupFailed``). A failure sends ``db_restore_failed`` with the stage before
    the exception propagates.

    With ``COPIES``, a remote that cannot be read, lacks the backup or whose object fails
    verification (size before streaming, checksum while streaming: the restore tool never got the
    end of the stream) is skipped for the next one, and the result's ``remote`` and ``warnings``
    say which was used. ``source`` (``--from``) reads from that one remote only.
    """
    host = get_host()
    resolution = resolve(database, host)
    connector = resolution.connector
    apply_run_options(connector, connector_options or {})
    name = select(database, input_path, source)
    reached(PREPARE, path=name)
    candidates = copies.sources(get_settings(), source)
    skipped: list[str] = []
    announced = False
    for index, conf in enumerate(candidates):
        last = index == len(candidates) - 1
        rclone = Rclone.from_settings(conf)
        try:
            path, record, manifest = _inspect(conf, rclone, name, verify)
            compression = stored_compression(conf, name, manifest, host.extension(connector, database))
            warnings = _signature_notes(conf, name, manifest, allow_unsigned)
            warnings += _compatibility_notes(conf, host, resolution, database, name, manifest, force)
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
            size = manifest.size if manifest is not None else int(record.get("Size", -1))
            sandboxed = connector.restore_sandboxed()
            if not sandboxed:
                tool = (
                    f"the restore tool of {database!r} ({resolution.connector_path}) can run commands found in a backup"
                )
                if expected is not None:
                    warnings.append(f"{tool}: the whole backup was checked against its manifest before restoring")
                else:
                    warnings.append(f"{tool}, and this backup is restored without a checksum check")
            if (connector.verify_before_restore or not sandboxed) and expected is not None:
                progress.expect(size)
                check_whole(rclone, path, name, expected, compression)
        except FALLBACK_ERRORS as exc:
            if last:
                raise
            skipped.append(f"{copies.shown(conf)} not used: {exc}")
            continue
        if not announced:  # once, however many remotes are tried
            pre_db_restore.send(sender=sender, database=database, connector=connector, path=name)
            if undo_backup and connector.database_exists() is False:
                undo = None  # a new machine: nothing to undo, and a backup of nothing would fail
                warnings.append(f"no undo backup: database {database!r} does not exist yet")
            else:
                undo = _undo_backup(database, sender) if undo_backup else None
            announced = True
        for connection in connections.all(initialized_only=True):  # no backend import for unopened aliases
            if connection.alias == database:
                connection.close()
        clock = time.monotonic()
        reached(RESTORE)
        progress.expect(size if size >= 0 else None)
        try:
            with interruptible():
                stats = stream_into(host, connector, database, rclone, path, expected, compression)
        except IntegrityError as exc:  # the tool never got the end of the stream: nothing committed
            if last:
                raise
            skipped.append(f"{copies.shown(conf)} not used: {exc}")
            continue
        finally:
            with shield():  # a second Ctrl-C must not stop a connector's cleanup half-way
                connector.cleanup()
        break
    if len(candidates) > 1 and (skipped or index > 0):
        warnings = [*skipped, f"restored from the copy on {copies.shown(conf)}", *warnings]
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
        remote=copies.shown(conf),
        undo=undo,
    )
    send_after(post_db_restore, sender=sender, database=database, connector=connector, path=name, result=result)
    return result


def _undo_backup(database: str, sender: Any) -> str:
    """Back up ``database`` as it is now (kind ``"pre-restore"``); the restore does not start if
    this fails. Returns the undo backup's name."""
    reached(UNDO)
    try:
        # The caller's progress line is the restore's, not this backup's; and a restore is no sign
        # that scheduled backups still run, so the "backup" check is not pinged.
        with progress.reporting(None), pings.quiet("backup"):
            return backup(database, sender=sender, kind=KIND_PRE_RESTORE).name
    except Interrupted:
        raise
    except DjangoRcloneError as exc:
        raise UndoBackupFailed(
            f"the undo backup of database {database!r} failed, so the restore did not start and nothing was "
            f"changed: {exc}. Fix that, or restore without an undo backup (--no-undo-backup, undo_backup=False)"
        ) from exc


def open_stored(rclone: Rclone, path: str) -> Stage:
    """``rclone cat path``, and for a django-dbbackup ``.gpg`` file ``gpg --decrypt`` after it (see
    gpg.py): the returned stage's stdout is the stored stream the codec stage decodes."""
    cat = rclone_stage(rclone.cat(path), "cat", rclone.secrets)
    if not gpg.is_encrypted(path):
        return cat
    conf = get_settings()
    return gpg.decrypt(conf.gpg, cat, conf.secrets)


def check_whole(rclone: Rclone, path: str, name: str, expected: Expected, compression: Compression) -> None:
    """Read the whole object through SHA-256 (and its codec) and compare it with the manifest, before
    a restore tool that could act on what it reads receives a byte (``IntegrityError`` if it differs)."""
    reached(DOWNLOAD)
    with interruptible(), interrupts.deferred():
        check = stream_digest(open_stored(rclone, path), compression.decoder())
    if (check.size, check.sha256) != (expected.size, expected.sha256):
        raise IntegrityError(f"{name} does not match its manifest (checked before restoring); nothing was restored")


def stream_into(
    host: PluginHost,
    connector: BaseConnector,
    database: str,
    rclone: Rclone,
    path: str,
    expected: Expected | None,
    compression: Compression,
) -> StreamStats:
    """``connector.prepare_restore()``, then ``rclone cat`` -> decoder -> restore guard -> the
    connector's restore tool, holding back the end until the stream is verified; then
    ``connector.restore_finished()``, which also runs after a failure (its own error, if any, is the
    root cause). ``dbrestore`` and restore drills both restore through here."""
    connector.prepare_restore()
    guard = connector.restore_guard()
    decoder = compression.decoder()
    try:
        with interrupts.deferred():  # a Ctrl-C now is raised once the pipeline supervises the processes
            stored = open_stored(rclone, path)
            proc = None
            try:
                proc = host.restore(connector, database, subprocess.PIPE)
                consumer = tool_stage(proc, connector, "RESTORE")
            except BaseException:  # before the pipeline took charge: the tool never sees end of input
                with shield():
                    if proc is not None:
                        abandon(proc)
                    stored.stop()
                raise
            stats = stream_restore(stored, consumer, expected, guard, decoder)
    except DjangoRcloneError:
        connector.restore_finished()
        raise
    connector.restore_finished()
    return stats
