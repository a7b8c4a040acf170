"""The connector contract for untrusted backups: a restore tool that is not declared sandboxed
receives a backup only after all of it matched its manifest, and a ``RestoreGuard`` sees (and can
stop) every byte before the tool does. Real rclone, stand-in tools."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_rclone.db.base import RestoreGuard
from django_rclone.exceptions import UnsafeBackup
from django_rclone.names import MANIFEST_SUFFIX
from django_rclone.pipeline import CHUNK_SIZE
from django_rclone.rclone import SMALL_FILE_LIMIT
from tests.core.conftest import REAL_RCLONE
from tests.forge import newest_object
from tests.standins.connector import StandinConnector

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = pytest.mark.usefixtures("no_stray_processes")

UNGUARDED = "tests.standins.connector.UnguardedStandinConnector"
GUARDED = "tests.core.test_untrusted_restore.GuardedStandinConnector"
Settings = Callable[..., None]


class RefuseMarker(RestoreGuard):
    """Stops the stream at the bytes ``EVIL``; frames what it passes with a preamble and a trailer."""

    def start(self) -> bytes:
        return b"<start>"

    def feed(self, chunk: memoryview) -> bytes | memoryview:
        if b"EVIL" in bytes(chunk):
            raise UnsafeBackup("the backup holds EVIL; nothing was restored")
        return chunk

    def finish(self) -> bytes:
        return b"<end>"


class GuardedStandinConnector(StandinConnector):
    def restore_guard(self) -> RestoreGuard | None:
        return RefuseMarker()


def configure(rclone_settings: Settings, connector: str, tmp_path: Path, size: int) -> tuple[Path, Path]:
    out, pids = tmp_path / "restored.bin", tmp_path / "restore-pids"
    rclone_settings(
        CONNECTORS={
            "default": {
                "CONNECTOR": connector,
                "DUMP_ARGS": ["--size", str(size)],
                "RESTORE_ARGS": ["--out", str(out), "--pidfile", str(pids)],
            }
        }
    )
    return out, pids


def test_unsandboxed_tool_never_sees_a_backup_that_fails_its_checksum(
    rclone_settings: Settings, remote: Path, tmp_path: Path
) -> None:
    out, pids = configure(rclone_settings, UNGUARDED, tmp_path, 5_000_000)
    call_command("dbbackup", verbosity=0)
    obj = newest_object(remote)
    data = bytearray(obj.read_bytes())
    data[100] ^= 0xFF  # same size, early in the stream
    obj.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="checked before restoring"):
        call_command("dbrestore", "--noinput", verbosity=0)
    assert not pids.exists(), "the restore tool was started for a backup that failed its checksum"
    assert not out.exists()


def test_unsandboxed_tool_restores_a_good_backup_with_a_warning(
    rclone_settings: Settings, tmp_path: Path, expected_payload: Callable[[int], bytes]
) -> None:
    out, _ = configure(rclone_settings, UNGUARDED, tmp_path, 3_000_000)
    call_command("dbbackup", verbosity=0)
    err = io.StringIO()
    call_command("dbrestore", "--noinput", stderr=err)
    assert out.read_bytes() == expected_payload(3_000_000)
    assert "can run commands found in a backup" in err.getvalue()


def test_guard_frames_the_stream_and_checksums_cover_the_original(
    rclone_settings: Settings, tmp_path: Path, expected_payload: Callable[[int], bytes]
) -> None:
    out, _ = configure(rclone_settings, GUARDED, tmp_path, 3_000_000)
    call_command("dbbackup", verbosity=0)
    err = io.StringIO()
    call_command("dbrestore", "--noinput", stderr=err)
    assert out.read_bytes() == b"<start>" + expected_payload(3_000_000) + b"<end>"
    assert "can run commands" not in err.getvalue()


def test_guard_stops_the_restore_before_the_tool_gets_the_bytes(
    rclone_settings: Settings, remote: Path, tmp_path: Path
) -> None:
    # The marker sits beyond what one chunk plus the tool's (widened) pipe can hold, so the guard
    # cannot reach it before the tool has started and read part of the stream.
    marker_at = 2 * CHUNK_SIZE + CHUNK_SIZE + 100_000
    out, pids = configure(rclone_settings, GUARDED, tmp_path, marker_at + 1_000_000)
    call_command("dbbackup", verbosity=0)
    obj = newest_object(remote)
    data = bytearray(obj.read_bytes())
    data[marker_at : marker_at + 4] = b"EVIL"
    obj.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="holds EVIL"):
        call_command("dbrestore", "--noinput", "--skip-verify", verbosity=0)
    assert pids.exists()  # the tool ran, and was stopped before end of input
    assert not out.exists()


def test_a_padded_manifest_is_refused_without_being_read_whole(
    rclone_settings: Settings, remote: Path, tmp_path: Path
) -> None:
    """Anyone who can write to the remote can make a manifest huge (here: valid JSON, padded). A
    restore and a listing refuse it as unreadable instead of reading it into memory."""
    out, _ = configure(rclone_settings, UNGUARDED, tmp_path, 100_000)
    call_command("dbbackup", verbosity=0)
    manifest = Path(str(newest_object(remote)) + MANIFEST_SUFFIX)
    manifest.write_bytes(manifest.read_bytes() + b" " * SMALL_FILE_LIMIT)
    with pytest.raises(CommandError, match="holds more than"):
        call_command("dbrestore", "--noinput", "--no-undo-backup", verbosity=0)
    assert not out.exists()
    listed = io.StringIO()
    call_command("listbackups", "--json", stdout=listed)
    (entry,) = json.loads(listed.getvalue())
    assert "holds more than" in entry["problem"]


def _counting_rclone(tmp_path: Path) -> tuple[Path, Path]:
    """The real rclone behind a wrapper that records how many bytes each ``cat`` of a manifest path
    passed on so far (the count is written as the bytes flow, so a killed read shows its progress)."""
    log = tmp_path / "manifest-bytes"
    wrapper = tmp_path / "rclone-counting"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import os, subprocess, sys\n"
        f"real, log = {str(REAL_RCLONE)!r}, {str(log)!r}\n"
        "argv = sys.argv[1:]\n"
        f"if 'cat' not in argv or not argv[-1].endswith({MANIFEST_SUFFIX!r}):\n"
        "    os.execv(real, [real, *argv])\n"
        "proc = subprocess.Popen([real, *argv], stdout=subprocess.PIPE)\n"
        "total = 0\n"
        "while chunk := proc.stdout.read1(65536):\n"
        "    total += len(chunk)\n"
        "    open(log + '.tmp', 'w').write(str(total))\n"
        "    os.replace(log + '.tmp', log)\n"
        "    sys.stdout.buffer.write(chunk)\n"
        "    sys.stdout.buffer.flush()\n"
        "sys.exit(proc.wait())\n"
    )
    wrapper.chmod(0o755)
    return wrapper, log


def test_a_folder_at_the_manifest_path_is_not_downloaded(
    rclone_settings: Settings, remote: Path, tmp_path: Path, expected_payload: Callable[[int], bytes]
) -> None:
    """A restore reads the manifest beside its record (to save an rclone start); when the record
    says there is no manifest file (here: a folder of large files under its name), the read is
    stopped instead of downloading the folder."""
    wrapper, log = _counting_rclone(tmp_path)
    out, _ = configure(rclone_settings, UNGUARDED, tmp_path, 100_000)
    call_command("dbbackup", verbosity=0)
    obj = newest_object(remote)
    manifest = Path(str(obj) + MANIFEST_SUFFIX)
    manifest.unlink()
    manifest.mkdir()
    for index in range(4):
        (manifest / f"part{index}").write_bytes(b" " * 3_000_000)
    rclone_settings(
        RCLONE_BINARY=str(wrapper),
        CONNECTORS={"default": {"CONNECTOR": UNGUARDED, "RESTORE_ARGS": ["--out", str(out)]}},
    )
    call_command("dbrestore", "--noinput", "--no-undo-backup", "--input-path", obj.name, verbosity=0)
    assert out.read_bytes() == expected_payload(100_000)  # restored as a backup without a manifest
    assert not log.exists() or int(log.read_text()) <= SMALL_FILE_LIMIT, "the folder was read"
