"""The manifest: a small JSON object written next to each backup, last.

Its presence is the commit record: a data object without a manifest is an orphan of a run that did
not finish, which listing ignores and cleanup removes. ``dbrestore`` checks the stream against the
manifest's size and SHA-256.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


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
    format: int = FORMAT
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
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

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
        return manifest
