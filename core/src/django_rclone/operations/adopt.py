"""Adopt backups made elsewhere: read each once and write the manifest it lacks.

A backup without a manifest and without a run marker (django-rclone 0.1.0, copied in by hand, a
django-dbbackup file named by the template) is listed and restorable, but unverified. Adopting it
streams it once through SHA-256 (and through its codec, so a ``.gz`` or ``.zst`` that does not
decode is refused), and writes a manifest recording its size, checksum, codec, the alias it belongs
to and the engine and connector of that alias, so it becomes verifiable like a backup made here.
Nothing is written in a dry run, and an existing manifest is never replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from django_rclone import __version__, catalog, codecs, gpg, names, signing
from django_rclone.conf import RcloneSettings, get_settings
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.interrupts import interruptible
from django_rclone.manifest import Manifest
from django_rclone.operations.restore import stored_compression
from django_rclone.pipeline import StreamStats, stream_digest
from django_rclone.plugins import get_host
from django_rclone.rclone import Rclone
from django_rclone.resolution import resolve
from django_rclone.stages import rclone_stage


@dataclass(frozen=True)
class Adoption:
    """One backup made elsewhere, and what adopting it found or did."""

    name: str
    database: str
    size: int = 0
    sha256: str = ""
    compression: str = codecs.NONE
    written: bool = False
    problem: str = ""


def adopt(database: str | None = None, *, only: list[str] | None = None, write: bool = False) -> list[Adoption]:
    """Read every backup made elsewhere (of ``database``, or named in ``only``) and, with ``write``,
    commit a manifest for each that reads back whole. A backup whose extension does not fit its
    alias's connector, or whose data does not decode, is reported and left as it is."""
    conf = get_settings()
    rclone = Rclone.from_settings(conf)
    host = get_host()
    entries = [e for e in catalog.scan(conf, rclone, database) if e.foreign]
    if only:
        missing = sorted(set(only) - {e.name for e in entries})
        if missing:
            raise DjangoRcloneError(
                f"{', '.join(missing)}: not a backup made elsewhere in {catalog.db_folder(conf)} "
                "(it has a manifest already, is being written, or does not exist)"
            )
        entries = [e for e in entries if e.name in only]
    results = []
    for entry in entries:
        resolution = resolve(entry.database, host)
        extension = host.extension(resolution.connector, entry.database)
        try:
            if gpg.is_encrypted(entry.name):
                raise DjangoRcloneError(
                    "it is encrypted with GPG (django-dbbackup's --encrypt), and a manifest would vouch for bytes "
                    "only gpg can read; restore it by name (dbrestore -i), then take a new backup"
                )
            compression = stored_compression(conf, entry.name, None, extension)
            parsed = names.parse(conf, entry.name, entry.database)
            own = codecs.split_extension(parsed.ext if parsed else entry.name)[0]
            if parsed is not None and own != extension:
                raise DjangoRcloneError(
                    f"its extension {own!r} is not what the connector of {entry.database!r} writes ({extension!r})"
                )
            with interruptible():
                stats = stream_digest(
                    rclone_stage(rclone.cat(entry.path), "cat", rclone.secrets), compression.decoder()
                )
        except DjangoRcloneError as exc:
            results.append(Adoption(entry.name, entry.database, entry.size, problem=str(exc)))
            continue
        found = Adoption(entry.name, entry.database, stats.size, stats.sha256, compression.codec)
        if write:
            _commit(conf, rclone, entry, resolution.engine, resolution.connector_path, extension, compression, stats)
            found = Adoption(entry.name, entry.database, stats.size, stats.sha256, compression.codec, written=True)
        results.append(found)
    return results


def _commit(
    conf: RcloneSettings,
    rclone: Rclone,
    entry: catalog.BackupEntry,
    engine: str,
    connector: str,
    extension: str,
    compression: codecs.Compression,
    stats: StreamStats,
) -> None:
    """Write the manifest, unless one appeared meanwhile; the object must still have the size read."""
    size, sha256 = stats.size, stats.sha256
    manifest_path = entry.path + names.MANIFEST_SUFFIX
    record = rclone.stat(entry.path)
    if record is None or int(record.get("Size", -1)) not in (size, -1):
        raise DjangoRcloneError(f"{entry.name} changed while it was read; nothing was written for it")
    if rclone.stat(manifest_path) is not None:
        raise DjangoRcloneError(f"{entry.name} got a manifest while it was read; it was left as it is")
    manifest = Manifest(
        name=entry.name,
        database=entry.database,
        engine=engine,
        connector=connector,
        extension=extension,
        size=size,
        sha256=sha256,
        started_at=entry.created,
        finished_at=entry.created,
        django_rclone_version=__version__,
        metadata={"adopted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        compression=compression.codec,
        uncompressed_size=stats.uncompressed_size,
    )
    if conf.signing_keys:
        manifest = signing.sign(manifest, conf.signing_keys[0])
    rclone.rcat_bytes(manifest_path, manifest.to_bytes())
