"""The manifest: a small JSON object written next to each backup, last.

Its presence is the commit record (``catalog`` says what an object without one is). ``dbrestore``
checks the stream against the manifest's size and SHA-256.

With ``DJANGO_RCLONE["SIGNING_KEY"]`` set, the manifest also carries ``signature``: an HMAC-SHA256
over its canonical content (every other field, including any a later version adds, see
``signing``), so someone who can write the remote cannot forge a manifest for altered bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

FORMAT = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")

#: ``Manifest.kind`` of an ordinary backup (``dbbackup``, the API, a schedule).
KIND_BACKUP = "backup"
#: ``Manifest.kind`` of the backup ``dbrestore`` takes of a database just before replacing it (the
#: undo backup). Never picked as "the newest" by a plain ``dbrestore``, kept by retention for
#: ``PRE_RESTORE_KEEP_DAYS`` and never counted against the policy of ordinary backups.
KIND_PRE_RESTORE = "pre-restore"
KINDS = (KIND_BACKUP, KIND_PRE_RESTORE)


@dataclass(frozen=True)
class Manifest:
    """What django-rclone knows about one backup."""

    name: str
    database: str
    engine: str
    connector: str
    #: The connector's extension; the stored name adds the codec's (``dump`` -> ``....dump.zst``).
    extension: str
    #: Stored bytes: what ``rclone cat`` yields, what ``sha256`` covers.
    size: int
    sha256: str
    started_at: str
    finished_at: str
    django_rclone_version: str
    tool_versions: dict[str, str] = field(default_factory=dict)
    host: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The run that wrote the backup (its marker's id); lets the run re-read and recognise its commit.
    run_id: str = ""
    format: int = FORMAT
    #: ``"backup"``, or ``"pre-restore"`` for the undo backup ``dbrestore`` takes first. Manifests
    #: written before this field existed read as ``"backup"``.
    kind: str = KIND_BACKUP

    @property
    def pre_restore(self) -> bool:
        return self.kind == KIND_PRE_RESTORE

    #: ``hmac-sha256:<hex>`` over ``content()`` when a signing key was set at backup time, else "".
    signature: str = ""

    def content(self) -> dict[str, Any]:
        """Every field but ``signature``, plus fields this version does not know (read from a newer
        manifest): what the signature covers."""
        data = {**asdict(self), **getattr(self, "_unknown", {})}
        data.pop("signature", None)
        return data

    def with_signature(self, signature: str) -> Manifest:
        """A copy carrying ``signature`` (fields this version does not know are kept)."""
        signed = replace(self, signature=signature)
        object.__setattr__(signed, "_unknown", dict(getattr(self, "_unknown", {})))
        return signed

    #: The pipeline's codec (``codecs``): ``"zstd"``, ``"gzip"`` or ``"none"`` (also for manifests
    #: written before the stage existed), its level, and the dump's size before compression.
    compression: str = "none"
    compression_level: int | None = None
    uncompressed_size: int | None = None

    @property
    def compression_ratio(self) -> float | None:
        """Uncompressed size over stored size (``3.0`` means a third of the dump's bytes were stored)."""
        if not isinstance(self.uncompressed_size, int) or not isinstance(self.size, int) or self.size <= 0:
            return None
        return self.uncompressed_size / self.size

    def to_bytes(self) -> bytes:
        return (json.dumps({**self.content(), "signature": self.signature}, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a django-rclone manifest (unknown format)")
        known = {f for f in cls.__dataclass_fields__}
        try:
            manifest = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise ValueError(f"not a django-rclone manifest ({exc})") from None
        if isinstance(manifest.size, bool) or not isinstance(manifest.size, int) or manifest.size < 0:
            raise ValueError(f"its size is {manifest.size!r}, not a number of bytes")
        if not isinstance(manifest.sha256, str) or not _SHA256.fullmatch(manifest.sha256):
            raise ValueError(f"its sha256 is {manifest.sha256!r}, not a SHA-256 hex digest")
        for key in ("name", "database", "engine", "connector", "extension"):
            if not isinstance(getattr(manifest, key), str):
                raise ValueError(f"its {key} is {getattr(manifest, key)!r}, not a string")
        object.__setattr__(manifest, "_unknown", {k: v for k, v in data.items() if k not in known})
        return manifest
