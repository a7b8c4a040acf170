"""What an attacker with write access to the remote does: alter a backup and forge its manifest.

``forge(remote, edit)`` rewrites the newest backup object on a local-folder remote with
``edit(bytes) -> bytes`` and recomputes the size and SHA-256 in its manifest, so the checksum check
passes and only the restore tool's own guard (or a signature) stands between the backup and the
machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

MANIFEST_SUFFIX = ".manifest.json"


def newest_object(remote: Path) -> Path:
    objects = [p for p in remote.rglob("*") if p.is_file() and not p.name.endswith(MANIFEST_SUFFIX)]
    assert objects, f"no backup object under {remote}"
    return max(objects, key=lambda p: (p.stat().st_mtime_ns, p.name))


def forge(remote: Path, edit: Callable[[bytes], bytes], *, keep_signature: bool = True) -> Path:
    """Apply ``edit`` to the newest object and make its manifest match; return the object's path.

    The manifest's other fields (and a ``signature``, unless ``keep_signature`` is false) stay as
    they were, as an attacker without the signing key would leave them.
    """
    obj = newest_object(remote)
    data = edit(obj.read_bytes())
    obj.write_bytes(data)
    manifest_path = obj.with_name(obj.name + MANIFEST_SUFFIX)
    manifest = json.loads(manifest_path.read_text())
    manifest["size"] = len(data)
    manifest["sha256"] = hashlib.sha256(data).hexdigest()
    if not keep_signature:
        manifest["signature"] = ""
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return obj


def replace_line(data: bytes, startswith: bytes, new_lines: bytes) -> bytes:
    """``data`` with its first line that starts with ``startswith`` replaced by ``new_lines``."""
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(startswith):
            lines[i] = new_lines
            return b"\n".join(lines)
    raise AssertionError(f"no line starts with {startswith!r}")


def insert_before(data: bytes, startswith: bytes, new_lines: bytes) -> bytes:
    """``data`` with ``new_lines`` (ending in a newline) inserted before its first line that starts
    with ``startswith``."""
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(startswith):
            lines.insert(i, new_lines.rstrip(b"\n"))
            return b"\n".join(lines)
    raise AssertionError(f"no line starts with {startswith!r}")
