"""Shared checks for the raw-file SQLite connector tests (backup API and plain copy)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections

from tests.plugins.sqlite.test_roundtrip import snapshot
from tests.testapp.models import Author


def db_path(alias: str = "default") -> Path:
    return Path(connections.databases[alias]["NAME"])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def integrity(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def backup_object(remote: Path) -> Path:
    found = [p for p in remote.rglob("*") if p.is_file() and ".db" in p.name and "manifest" not in p.name]
    assert len(found) == 1, found
    return found[0]


def corrupt(obj: Path) -> None:
    """Overwrite bytes inside the second page so the file stays an SQLite file but fails integrity_check."""
    data = bytearray(obj.read_bytes())
    assert len(data) > 8192
    data[4096 + 8 : 4096 + 8 + 3000] = b"\xa5" * 3000
    obj.write_bytes(bytes(data))


def leftovers(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(".django-rclone-restore-"))


def assert_unverified_restore_fails_and_changes_nothing(error: str) -> None:
    """Change a row, restore the (damaged) newest backup with --skip-verify: the restore must fail
    with ``error`` and leave the live file byte-for-byte as it was, with no scratch files left."""
    Author.objects.create(name="Carol")
    expected = snapshot()
    connections["default"].close()
    before = digest(db_path())
    with pytest.raises(Exception, match=error):
        call_command("dbrestore", "--noinput", "--skip-verify", verbosity=0)
    assert digest(db_path()) == before
    assert snapshot() == expected
    assert leftovers(db_path().parent) == []
