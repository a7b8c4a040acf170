"""The manifest: a small JSON object written next to each backup, last.

Its presence is the commit record: a data object without a manifest is an orphan of a run that did
not finish, which listing ignores and cleanup removes. ``dbrestore`` checks the stream against the
manifest's size and SHA-256.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = 1


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
    format: int = FORMAT

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a django-rclone manifest (unknown format)")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
