"""The manifest: a small JSON object written next to each backup, last.

Its presence is the commit record (``catalog`` says what an object without one is). ``dbrestore``
checks the stream against the manifest's size and SHA-256.
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
    extension: str
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
