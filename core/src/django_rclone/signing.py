"""Manifest signatures: an HMAC-SHA256 over a manifest's canonical content.

The checksum in a manifest proves the bytes are the ones the backup wrote, as long as the manifest
itself is genuine; whoever can write the remote can replace an object and its manifest together.
With ``DJANGO_RCLONE["SIGNING_KEY"]`` set, every new manifest is signed, and a restore refuses a
manifest that is unsigned or whose signature no configured key verifies (unless the caller passes
``allow_unsigned``). The canonical content is the JSON of every field but ``signature`` with sorted
keys and no whitespace, so fields added to ``Manifest`` later are covered without a change here.
Keys never appear in messages, logs or reprs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django_rclone.manifest import Manifest

SCHEME = "hmac-sha256"


class Signature(Enum):
    """What a configured key says about a manifest."""

    VALID = "valid"
    UNSIGNED = "unsigned"
    INVALID = "invalid"


def canonical(manifest: Manifest) -> bytes:
    """The bytes a signature covers: ``manifest.content()`` as compact JSON with sorted keys."""
    return json.dumps(manifest.content(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(key: str, manifest: Manifest) -> str:
    return hmac.new(key.encode(), canonical(manifest), hashlib.sha256).hexdigest()


def sign(manifest: Manifest, key: str) -> Manifest:
    """A copy of ``manifest`` carrying the signature made with ``key``."""
    return manifest.with_signature(f"{SCHEME}:{_mac(key, manifest)}")


def check(manifest: Manifest, keys: Sequence[str]) -> Signature:
    """``VALID`` when one of ``keys`` (the current key and older ones) made the signature."""
    if not manifest.signature:
        return Signature.UNSIGNED
    if not isinstance(manifest.signature, str):  # a hand-edited manifest: {"signature": 1}
        return Signature.INVALID
    scheme, _, digest = manifest.signature.partition(":")
    if scheme != SCHEME:
        return Signature.INVALID
    if any(hmac.compare_digest(digest.encode(), _mac(key, manifest).encode()) for key in keys):
        return Signature.VALID
    return Signature.INVALID


def problem(manifest: Manifest | None, keys: Sequence[str]) -> str:
    """Why a backup fails the signature check (``""`` when it passes or no key is set)."""
    if not keys:
        return ""
    if manifest is None:
        return "it has no manifest, so no signature"
    verdict = check(manifest, keys)
    if verdict is Signature.UNSIGNED:
        return "its manifest is not signed"
    if verdict is Signature.INVALID:
        return "its manifest's signature does not match SIGNING_KEY (altered, or signed with another key)"
    return ""
