"""verifybackups (monitoring without restoring) and cleanbackups (retention with a dry run)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.core.conftest import marker, remote_files

pytestmark = pytest.mark.usefixtures("no_stray_processes")


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_verify_passes_then_catches_corruption(sqlite_db: str, remote: Path) -> None:
    call_command("dbbackup", verbosity=0)
    out, _ = run("verifybackups")
    assert out.startswith("OK      default-")
    obj = next(p for p in (remote / "db").iterdir() if not p.name.endswith(".manifest.json"))
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 1
    obj.write_bytes(bytes(data))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 backup"):
        call_command("verifybackups", stderr=err)
    assert "sha256" in err.getvalue()
    assert obj.name in err.getvalue()


def test_verify_max_age_and_missing(sqlite_db: str, remote: Path) -> None:
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 backup"):
        call_command("verifybackups", "--database", "default", stderr=err)
    assert "no backups of database 'default'" in err.getvalue()
    call_command("dbbackup", verbosity=0)
    run("verifybackups", "--max-age", "1")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verifybackups", "--max-age", "0.0000001", stderr=err)
    assert "h old (limit" in err.getvalue()
    (remote / "db" / "default-2001-01-01-000000.sqlite3").write_bytes(b"x")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verifybackups", "--input-path", "default-2001-01-01-000000.sqlite3", stderr=err)
    assert "no manifest" in err.getvalue()


def committed(remote: Path, name: str) -> None:
    (remote / "db").mkdir(exist_ok=True)
    (remote / "db" / name).write_bytes(b"data")
    (remote / "db" / f"{name}.manifest.json").write_text("{}")


def test_cleanbackups_dry_run_then_delete(rclone_settings: Callable[..., None], remote: Path) -> None:
    rclone_settings(DB_CLEANUP_KEEP=2)
    for day in (1, 2, 3, 4):
        committed(remote, f"default-2024-01-0{day}-000000.sqlite3")
    committed(remote, "other-2024-01-01-000000.sqlite3")
    stale = (datetime.now(timezone.utc) - timedelta(hours=30)).strftime("%Y-%m-%d-%H%M%S")
    fresh = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%d-%H%M%S")
    (remote / "db" / f"default-{stale}.sqlite3").write_bytes(b"orphan")
    marker(remote, f"default-{stale}.sqlite3", hours_old=30)
    (remote / "db" / f"default-{fresh}.sqlite3").write_bytes(b"still being written by another run")
    marker(remote, f"default-{fresh}.sqlite3", hours_old=0)
    before = remote_files(remote)
    out, _ = run("cleanbackups", "--dry-run")
    assert remote_files(remote) == before
    lines = out.splitlines()
    assert lines[-1] == "Would delete 3 backup(s)."
    assert "Would delete default-2024-01-01-000000.sqlite3: beyond the newest 2" in out
    assert "Would delete default-2024-01-02-000000.sqlite3: beyond the newest 2" in out
    assert f"Would delete default-{stale}.sqlite3: orphan" in out
    out, _ = run("cleanbackups")
    assert out.splitlines()[-1] == "Deleted 3 backup(s)."
    assert remote_files(remote) == sorted(
        [
            "db/default-2024-01-03-000000.sqlite3",
            "db/default-2024-01-03-000000.sqlite3.manifest.json",
            "db/default-2024-01-04-000000.sqlite3",
            "db/default-2024-01-04-000000.sqlite3.manifest.json",
            f"db/default-{fresh}.sqlite3",
            f"db/default-{fresh}.sqlite3.{'b' * 32}.pending",
            "db/other-2024-01-01-000000.sqlite3",
            "db/other-2024-01-01-000000.sqlite3.manifest.json",
        ]
    )


def test_cleanbackups_one_alias_and_keep_flag(remote: Path) -> None:
    for day in (1, 2):
        committed(remote, f"default-2024-01-0{day}-000000.sqlite3")
        committed(remote, f"other-2024-01-0{day}-000000.sqlite3")
    run("cleanbackups", "--database", "other", "--keep", "1")
    names = [f for f in remote_files(remote) if not f.endswith(".json")]
    assert names == [
        "db/default-2024-01-01-000000.sqlite3",
        "db/default-2024-01-02-000000.sqlite3",
        "db/other-2024-01-02-000000.sqlite3",
    ]
