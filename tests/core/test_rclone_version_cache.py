"""Rclone.version() is cached per binary file: one rclone start per process, not one per backup."""

from __future__ import annotations

import os
from pathlib import Path

from django_rclone.rclone import Rclone


def _standin(path: Path, line: str) -> None:
    path.write_text(f"#!/bin/sh\necho '{line}'\n")
    path.chmod(0o755)


def test_cached_until_the_binary_changes(tmp_path: Path) -> None:
    binary = tmp_path / "rclone"
    _standin(binary, "rclone v1.0.0")
    rclone = Rclone(binary=str(binary))
    assert rclone.version() == "rclone v1.0.0"
    stamp = binary.stat().st_mtime_ns
    _standin(binary, "rclone v2.0.0")
    os.utime(binary, ns=(stamp, stamp))  # same file as far as the cache knows
    assert rclone.version() == "rclone v1.0.0"
    os.utime(binary, ns=(stamp + 10**9, stamp + 10**9))  # upgraded in place
    assert rclone.version() == "rclone v2.0.0"


def test_real_rclone_version() -> None:
    assert Rclone().version().startswith("rclone v")
