"""STREAM_CHUNK_SIZE: the part size of streamed uploads, against a real loopback S3 server.

A dump is uploaded while its size is unknown, so S3-like backends split it into parts of a fixed
size and cap the number of parts (S3: 10,000). These tests count the parts the server really
received and restore what was uploaded, byte for byte.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from django_rclone.conf import load_settings
from django_rclone.operations.backup import backup
from django_rclone.operations.restore import restore
from tests.servers.s3 import LoopbackS3

MIB = 1 << 20


def _fill(mib: int) -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("CREATE TABLE bulk (data BLOB)")
        for _ in range(mib):
            cursor.execute("INSERT INTO bulk VALUES (?)", [os.urandom(MIB)])


def _rows() -> list[bytes]:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT data FROM bulk ORDER BY rowid")
        return [bytes(row[0]) for row in cursor.fetchall()]


def _settings(server: LoopbackS3, **keys: object) -> override_settings:
    # No codec: the part count below is worked out from the dump's size.
    keys = {"COMPRESSION": "none", **keys}
    return override_settings(DJANGO_RCLONE={"REMOTE": server.remote("site"), "RCLONE_ENV": server.env, **keys})


@pytest.mark.parametrize(("chunk", "part_size"), [(None, 5 * MIB), ("6M", 6 * MIB), (7 * MIB, 7 * MIB)])
def test_part_size_follows_the_setting_and_the_backup_restores(
    loopback_s3: LoopbackS3, sqlite_db: str, chunk: object, part_size: int, no_stray_processes: None
) -> None:
    _fill(12)  # the SQL text dump is about twice that: hex-encoded blobs
    before = _rows()
    with _settings(loopback_s3, STREAM_CHUNK_SIZE=chunk):
        result = backup("default")
        assert result.size > 3 * part_size  # several parts, so the count tells the part size
        expected_parts = -(-result.size // part_size)
        assert loopback_s3.parts(f"site/db/{result.name}") == expected_parts
        with connections["default"].cursor() as cursor:
            cursor.execute("DELETE FROM bulk")
        connections["default"].close()
        restored = restore("default", input_path=result.name)
    assert restored.verified
    assert _rows() == before


def test_rclone_env_still_wins_for_one_backend(loopback_s3: LoopbackS3, sqlite_db: str) -> None:
    _fill(6)
    env = {**loopback_s3.env, "RCLONE_S3_CHUNK_SIZE": "5M"}
    with override_settings(
        DJANGO_RCLONE={"REMOTE": loopback_s3.remote("site"), "RCLONE_ENV": env, "STREAM_CHUNK_SIZE": "64M"}
    ):
        result = backup("default")
    assert loopback_s3.parts(f"site/db/{result.name}") == -(-result.size // (5 * MIB))


def test_listing_and_command_on_s3(loopback_s3: LoopbackS3, sqlite_db: str) -> None:
    _fill(1)
    with _settings(loopback_s3, STREAM_CHUNK_SIZE="5M"):
        call_command("dbbackup", stdout=io.StringIO())
        out = io.StringIO()
        call_command("listbackups", stdout=out)
    assert "default-" in out.getvalue()


@pytest.mark.parametrize("bad", ["", "big", "0", "-5M", "8388608", 0, -1, True, 1.5, "5 M"])
def test_bad_chunk_size_names_the_key(bad: object) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"STREAM_CHUNK_SIZE.*rclone size"):
        load_settings({"REMOTE": "/tmp/x", "STREAM_CHUNK_SIZE": bad})


@pytest.mark.parametrize(("value", "stored"), [("64M", "64M"), ("1Gi", "1Gi"), (8388608, "8388608B"), (None, None)])
def test_good_chunk_sizes(value: object, stored: str | None, tmp_path: Path) -> None:
    assert load_settings({"REMOTE": str(tmp_path), "STREAM_CHUNK_SIZE": value}).stream_chunk_size == stored
