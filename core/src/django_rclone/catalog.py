"""What is on the remote: backups, whose they are, and what runs left behind.

One ``rclone lsjson`` of the backup folder and one ``rclone cat`` of all its manifests answer every
question here (no per-object calls), so listing and retention stay fast with thousands of objects.

Each object that is not bookkeeping (a manifest or a run marker, see ``names``) is one of:

- **verified**: its manifest sits beside it, names it, and names the alias its name reads as;
- **made elsewhere** (``foreign``): no manifest and no run marker, e.g. a django-rclone 0.1.0
  backup or one copied in by hand; listed, restorable, counted by retention, never swept;
- **being written** (``in_progress``): a run marker and no manifest; left alone for 24 hours, then
  an **orphan** of an interrupted run, the only thing orphan clean-up ever deletes;
- **mismatched**: a manifest that is unreadable or describes another object (``problem`` says
  how); listed, refused by restore and verify.

A backup belongs to the alias its manifest names; without a usable manifest, to the alias its name
reads as (``names.owner``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings as django_settings

from django_rclone import codecs, names, signing
from django_rclone.conf import RcloneSettings
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.manifest import Manifest
from django_rclone.rclone import EXIT_DIR_NOT_FOUND, SMALL_FILE_LIMIT, Rclone, join

#: The note on a backup without a manifest or marker (``listbackups``).
FOREIGN = "no manifest: made elsewhere (django-rclone 0.1.0, copied by hand); restored unverified"

#: How long a run marker without a manifest counts as a backup still being written.
ORPHAN_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class Marker:
    """A run's claim on a backup name (``<name>.<run id>.pending``)."""

    filename: str
    name: str
    run_id: str
    modified: datetime | None


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
    #: The manifest, when it could be read and describes this object.
    manifest: Manifest | None = None
    #: Why the manifest beside the object cannot be used (unreadable, names another backup).
    problem: str = ""
    #: Run markers beside the object (a run is writing it, or was interrupted).
    markers: tuple[Marker, ...] = ()

    @property
    def verified(self) -> bool:
        """A usable manifest sits beside it: restore and verify can check size and SHA-256."""
        return self.manifest is not None and not self.problem

    @property
    def foreign(self) -> bool:
        """Made elsewhere: no manifest and no run marker (0.1.0, copied by hand)."""
        return not self.committed and not self.markers

    @property
    def in_progress(self) -> bool:
        """A run marker and no manifest: being written, or left by an interrupted run."""
        return not self.committed and bool(self.markers)

    @property
    def restorable(self) -> bool:
        """A candidate for "the latest backup": committed or made elsewhere, not mid-upload."""
        return self.committed or self.foreign

    def orphan(self, now: datetime) -> bool:
        """Left by an interrupted run of ours: marked, no manifest, every marker older than 24 h."""
        cutoff = now - ORPHAN_GRACE
        return self.in_progress and all(m.modified is not None and m.modified < cutoff for m in self.markers)

    #: The remotes holding a complete copy, ``REMOTE`` first (set by ``copies.annotate``; empty
    #: when not asked for).
    remotes: tuple[str, ...] = ()

    @property
    def manifest_name(self) -> str:
        return names.manifest_name(self.name)

    @property
    def sha256(self) -> str | None:
        """The SHA-256 recorded at backup time (``None`` without a loaded manifest)."""
        return self.manifest.sha256 if self.manifest else None

    @property
    def kind(self) -> str | None:
        """``"backup"`` or ``"pre-restore"`` (from the manifest; ``None`` without a loaded manifest)."""
        return self.manifest.kind if self.manifest else None

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

    def to_dict(self, signing_keys: Sequence[str] = ()) -> dict[str, Any]:
        """Plain data with stable keys (``listbackups --json``; documented in docs/commands.md).

        Keys that come from the manifest are ``None`` when it was not loaded or is unreadable.
        ``signed`` says whether the manifest carries a signature; ``signature`` is what
        ``signing_keys`` (``SIGNING_KEY``) say of it: "valid", "invalid", "unsigned", or ``None``
        without a key.
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
            "signed": bool(m.signature) if m else None,
            "signature": signing.check(m, signing_keys).value if m and signing_keys else None,
            "kind": m.kind if m else None,
            "verified": self.verified,
            "manifest": self.committed,
            "problem": self.problem or (FOREIGN if self.foreign else None),
            "compression": self.compression,
            "compression_level": m.compression_level if m else None,
            "uncompressed_size": m.uncompressed_size if m else None,
            "compression_ratio": self.compression_ratio,
            "remotes": list(self.remotes),
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


@dataclass(frozen=True)
class Listing:
    """The backup folder, read once: backups (newest first) and markers whose object is gone."""

    entries: list[BackupEntry]
    stray_markers: list[Marker] = field(default_factory=list)


def configured_aliases() -> list[str]:
    return list(getattr(django_settings, "DATABASES", {}))


def _modified(record: dict[str, Any]) -> datetime | None:
    # rclone gives nanoseconds and may end in "Z"; Python 3.10 reads neither.
    raw = re.sub(r"\.(\d+)", lambda m: "." + (m[1] + "000000")[:6], str(record.get("ModTime", "")))
    raw = raw.replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def read(conf: RcloneSettings, rclone: Rclone, database: str | None = None) -> Listing:
    """Every backup in the folder (of ``database``, when given) and the markers left without one."""
    records = rclone.lsjson(db_folder(conf))
    present = {r["Name"] for r in records}
    markers: dict[str, list[Marker]] = {}
    for record in records:
        split = names.split_marker(record["Name"])
        if split:
            markers.setdefault(split[0], []).append(Marker(record["Name"], split[0], split[1], _modified(record)))
    objects = [r for r in records if not names.is_reserved(r["Name"])]
    with_manifest = [r["Name"] for r in objects if names.manifest_name(r["Name"]) in present]
    in_folder = sum(1 for r in records if r["Name"].endswith(names.MANIFEST_SUFFIX))
    found, problems = _read_manifests(conf, rclone, with_manifest, in_folder)
    aliases = configured_aliases()
    entries = []
    for record in objects:
        name = record["Name"]
        manifest = found.get(name)
        problem = problems.get(name, "")
        if manifest is not None:
            problem = mismatch(conf, name, manifest) or ""
            if problem:
                manifest = None
        owner = manifest.database if manifest is not None else names.owner(conf, name, aliases)
        if owner is None and name in markers:  # a run of ours under a name the template cannot read
            owner = _marked_database(conf, rclone, markers[name][0])
        parsed = names.parse(conf, name, owner) if owner is not None else None
        timestamp = parsed.timestamp if parsed else _manifest_time(found.get(name))
        if timestamp is None and owner is not None and name in markers:
            timestamp = markers[name][0].modified
        if owner is None or timestamp is None:
            continue  # not made by this template and no manifest to say what it is
        if database is not None and owner != database:
            continue
        entries.append(
            BackupEntry(
                name=name,
                database=owner,
                timestamp=timestamp,
                size=int(record.get("Size", 0)),
                modified=str(record.get("ModTime", "")),
                committed=names.manifest_name(name) in present,
                path=db_path(conf, name),
                manifest=manifest,
                problem=problem,
                markers=tuple(markers.get(name, ())),
            )
        )
    entries.sort(key=lambda e: (e.timestamp, e.name), reverse=True)
    stray = [m for name, found_markers in markers.items() if name not in present for m in found_markers]
    if database is not None:
        stray = [
            m for m in stray if (names.owner(conf, m.name, aliases) or _marked_database(conf, rclone, m)) == database
        ]
    return Listing(entries, stray)


def _marked_database(conf: RcloneSettings, rclone: Rclone, marker: Marker) -> str | None:
    """The alias a run marker records (read only for names the template cannot read: rare)."""
    try:
        body = json.loads(rclone.cat_bytes(db_path(conf, marker.filename)))
    except (DjangoRcloneError, ValueError):
        return None
    database = body.get("database") if isinstance(body, dict) else None
    return database if isinstance(database, str) and database else None


def _manifest_time(manifest: Manifest | None) -> datetime | None:
    """When a backup whose name the template cannot read (``--output-filename``) started."""
    if manifest is None:
        return None
    try:
        moment = datetime.fromisoformat(manifest.started_at)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def mismatch(conf: RcloneSettings, name: str, manifest: Manifest) -> str | None:
    """Why ``manifest`` does not describe the object ``name`` it sits beside, or ``None``.

    Its ``name`` must be the object's, and when the template reads the name, the alias it records
    must be one the name reads as (a manifest of ``other`` copied beside a backup of ``default``
    is refused, even with a checksum that matches the copied bytes).
    """
    if manifest.name != name:
        return f"its manifest describes {manifest.name!r}, not {name!r} (moved or copied beside the wrong object)"
    if names.parse(conf, name) is not None and names.parse(conf, name, manifest.database) is None:
        return f"its manifest records database {manifest.database!r}, which the name {name!r} does not carry"
    return None


def scan(conf: RcloneSettings, rclone: Rclone, database: str | None = None) -> list[BackupEntry]:
    """Every backup in the folder (verified, made elsewhere, being written, orphaned), newest first."""
    return read(conf, rclone, database).entries


def listed(
    conf: RcloneSettings, rclone: Rclone, database: str | None = None, *, limit: int | None = None
) -> list[BackupEntry]:
    """What ``listbackups`` shows: committed backups and backups made elsewhere, newest first."""
    entries = [e for e in scan(conf, rclone, database) if e.restorable]
    return entries[:limit] if limit is not None else entries


def committed(
    conf: RcloneSettings,
    rclone: Rclone,
    database: str | None = None,
    *,
    limit: int | None = None,
    with_manifests: bool = False,
) -> list[BackupEntry]:
    """Backups whose manifest exists, newest first; the newest ``limit``.

    Manifests are always attached now (ownership needs them); ``with_manifests`` is kept for callers.
    """
    entries = [e for e in scan(conf, rclone, database) if e.committed]
    return entries[:limit] if limit is not None else entries


def manifests(conf: RcloneSettings, rclone: Rclone, wanted: list[str]) -> dict[str, Manifest]:
    """The manifests of the backups named in ``wanted``, by backup name; unusable ones are left out."""
    return _read_manifests(conf, rclone, wanted)[0]


def _read_manifests(
    conf: RcloneSettings, rclone: Rclone, wanted: list[str], in_folder: int | None = None
) -> tuple[dict[str, Manifest], dict[str, str]]:
    """The manifests beside the objects in ``wanted`` by object name, and why others are unusable.

    One ``rclone cat`` of every ``*.manifest.json`` in the folder (rclone concatenates them), so the
    cost does not grow with one call per backup. The stream does not say which file a document
    came from, so a document is used only when exactly one in the stream names that backup; any
    other manifest (copied beside another object, unreadable) is then read on its own, unless the
    stream already accounts for it: when it held one JSON document per manifest file in the folder
    (``in_folder``) and every usable one is placed, the rest are the files that are not usable.
    """
    found: dict[str, Manifest] = {}
    problems: dict[str, str] = {}
    wanted_set = set(wanted)
    if len(wanted) > 1:
        done = rclone.run(
            "cat",
            "--include",
            "*" + names.MANIFEST_SUFFIX,
            "--max-depth",
            "1",
            "--max-size",  # a planted huge file is left to the bounded read below, which refuses it
            f"{SMALL_FILE_LIMIT}B",
            db_folder(conf),
            ok=(0, EXIT_DIR_NOT_FOUND),
        )
        docs, others, complete = _parse_stream(done.stdout)
        counts = Counter(m.name for m in docs)
        found.update({m.name: m for m in docs if m.name in wanted_set and counts[m.name] == 1})
        placed = all(counts[m.name] == 1 and m.name in wanted_set for m in docs)
        if complete and placed and in_folder is not None and len(docs) + others == in_folder:
            for name in wanted:
                if name not in found:
                    problems[name] = "its manifest is unreadable (not a django-rclone manifest)"
            return found, problems
    for name in wanted:
        if name in found:
            continue
        try:
            manifest = Manifest.from_bytes(rclone.cat_bytes(db_path(conf, names.manifest_name(name))))
        except (DjangoRcloneError, ValueError, TypeError) as exc:
            problems[name] = f"its manifest is unreadable ({exc})"
            continue
        found[name] = manifest  # a wrong ``name`` inside is reported by ``mismatch``
    return found, problems


def _parse_stream(raw: bytes) -> tuple[list[Manifest], int, bool]:
    """Manifests from concatenated JSON documents: (manifests, other JSON documents, read to the
    end); stops at text that is not JSON."""
    text = raw.decode(errors="replace")
    decoder = json.JSONDecoder()
    found: list[Manifest] = []
    others = 0
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return found, others, True
        try:
            data, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return found, others, False
        try:
            found.append(Manifest.from_bytes(json.dumps(data).encode()))
        except (ValueError, TypeError):
            others += 1
