"""``listbackups`` (table, ``--json``, filters) and the Python API's result objects, on real backups."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings

import django_rclone
from django_rclone import api
from django_rclone.management.commands import dbbackup, dbrestore, listbackups
from django_rclone.management.commands.listbackups import human_age, rclone_time
from django_rclone.operations import backup as backup_op
from django_rclone.operations import restore as restore_op
from tests.core.conftest import MANAGE, ROOT

pytestmark = pytest.mark.usefixtures("no_stray_processes")

#: The documented keys of one ``listbackups --json`` entry (docs/commands.md); changing them breaks users.
JSON_KEYS = {
    "kind",
    "verified",
    "manifest",
    "problem",
    "remotes",
    "name",
    "database",
    "path",
    "size",
    "created",
    "modified",
    "sha256",
    "engine",
    "connector",
    "extension",
    "started_at",
    "finished_at",
    "duration",
    "host",
    "django_rclone_version",
    "tool_versions",
    "signed",
    "signature",
    "compression",
    "compression_level",
    "uncompressed_size",
    "compression_ratio",
}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def other_db() -> str:
    """The ``other`` SQLite alias with one table, so it can be backed up too."""
    path = Path(connections.databases["other"]["NAME"])
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE note (body TEXT)")
        conn.execute("INSERT INTO note VALUES ('hello')")
    conn.close()
    return "other"


@pytest.fixture
def backups(sqlite_db: str, other_db: str, remote: Path) -> list[django_rclone.api.BackupResult]:
    """Three real backups: default, other, default (newest last)."""
    return [django_rclone.backup("default"), django_rclone.backup("other"), django_rclone.backup("default")]


def newest_first(results: list[Any]) -> list[Any]:
    """The listing order: start time (second resolution, from the name), ties broken by name."""
    return sorted(results, key=lambda r: (r.manifest.started_at, r.name), reverse=True)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_json_lists_every_backup_with_manifest_fields(backups: list[Any], remote: Path) -> None:
    rows = json.loads(run("listbackups", "--json"))
    assert [r["name"] for r in rows] == [b.name for b in newest_first(backups)]
    for row, result in zip(rows, newest_first(backups), strict=True):
        assert set(row) == JSON_KEYS
        stored = remote / "db" / row["name"]
        assert row["size"] == stored.stat().st_size == result.size
        assert row["sha256"] == sha256_of(stored) == result.sha256
        assert row["path"] == result.path
        assert row["engine"] == "django.db.backends.sqlite3"
        assert row["connector"] == "django_rclone_sqlite.connectors.SqliteConnector"
        assert row["extension"] == "sqlite3"
        assert row["kind"] == "backup"
        assert row["name"].endswith(".sqlite3.zst")
        assert row["compression"] == "zstd"
        assert row["compression_level"] == result.manifest.compression_level
        assert row["uncompressed_size"] == result.uncompressed_size > 0
        assert row["compression_ratio"] == round(result.uncompressed_size / result.size, 3)
        assert row["django_rclone_version"] == django_rclone.__version__
        assert "rclone" in row["tool_versions"]
        created = datetime.fromisoformat(row["created"])
        assert created.utcoffset() == timedelta(0)
        assert abs(datetime.now(timezone.utc) - created) < timedelta(hours=1)
        assert row["duration"] >= 0


def test_filters_by_database_and_limit(backups: list[Any]) -> None:
    only_other = json.loads(run("listbackups", "--json", "--database", "other"))
    assert [r["name"] for r in only_other] == [backups[1].name]
    newest_default = json.loads(run("listbackups", "--json", "-d", "default", "--limit", "1"))
    assert [r["name"] for r in newest_default] == [backups[2].name]
    table = run("listbackups", "-d", "default").splitlines()
    assert [line.split()[0] for line in table[1:]] == [backups[2].name, backups[0].name]


def test_table_has_sizes_and_ages(backups: list[Any]) -> None:
    lines = run("listbackups").splitlines()
    assert lines[0].split() == ["NAME", "DATABASE", "SIZE", "CODEC", "RATIO", "CREATED", "(UTC)", "AGE", "KIND"]
    assert len(lines) == 1 + len(backups)
    for line, result in zip(lines[1:], newest_first(backups), strict=True):
        assert line.startswith(result.name)
        assert re.search(
            r"\s\d+(\.\d)? (B|KiB|MiB)\s+zstd\s+\d+\.\dx\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+[smhd]", line
        ), line


def test_json_of_an_empty_remote_is_an_empty_list(remote: Path) -> None:
    assert json.loads(run("listbackups", "--json")) == []


def test_an_unreadable_manifest_does_not_hide_the_others(backups: list[Any], remote: Path) -> None:
    oldest = backups[0].name  # first in the folder's name order, so the one-call read stops at it
    (remote / "db" / f"{oldest}.manifest.json").write_text("{not json")
    rows = {r["name"]: r for r in json.loads(run("listbackups", "--json"))}
    assert rows[oldest]["sha256"] is None
    assert rows[oldest]["size"] == backups[0].size
    for result in backups[1:]:
        assert rows[result.name]["sha256"] == result.sha256


def test_limit_must_be_positive(remote: Path) -> None:
    with pytest.raises(CommandError, match="1 or more"):
        run("listbackups", "--limit", "0")
    with pytest.raises(ValueError, match="limit"):
        django_rclone.list_backups(limit=0)


def test_media_json(tmp_path: Path, remote: Path) -> None:
    root = tmp_path / "media"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.txt").write_bytes(b"12345")
    with override_settings(MEDIA_ROOT=str(root)):
        django_rclone.media_backup()
        rows = json.loads(run("listbackups", "--media", "--json"))
        assert rows == [{"path": "a/one.txt", "size": 5, "modified": rows[0]["modified"]}]
        assert rows[0]["modified"]
        with pytest.raises(CommandError, match="--media"):
            run("listbackups", "--media", "--database", "default")


@pytest.fixture
def chicago_media(tmp_path: Path, rclone_settings: Any) -> Iterator[tuple[Path, datetime]]:
    """A media backup listed by an rclone that runs at UTC-6 (so its raw times carry -06:00)."""
    root = tmp_path / "media"
    (root / "avatars").mkdir(parents=True)
    (root / "avatars" / "ada.txt").write_bytes(b"x" * 3000)
    (root / "b.txt").write_bytes(b"12345")
    moment = datetime(2026, 11, 23, 9, 40, 54, tzinfo=timezone.utc)
    for path in (root / "avatars" / "ada.txt", root / "b.txt"):
        os.utime(path, (moment.timestamp(), moment.timestamp()))
    rclone_settings(RCLONE_ENV={"TZ": "America/Chicago"})
    with override_settings(MEDIA_ROOT=str(root)):
        django_rclone.media_backup()
        yield root, moment


def test_media_times_are_utc_like_everything_else(chicago_media: tuple[Path, datetime]) -> None:
    from django_rclone.conf import get_settings
    from django_rclone.operations.media import media_remote
    from django_rclone.rclone import Rclone

    _, moment = chicago_media
    raw = Rclone.from_settings(get_settings()).lsjson(media_remote(), recursive=True)
    assert all(r["ModTime"].endswith("-06:00") for r in raw)  # what used to be printed as it is
    rows = json.loads(run("listbackups", "--media", "--json"))
    assert rows == [
        {"path": "avatars/ada.txt", "size": 3000, "modified": moment.isoformat()},
        {"path": "b.txt", "size": 5, "modified": moment.isoformat()},
    ]
    lines = run("listbackups", "--media").splitlines()
    age = human_age((datetime.now(timezone.utc) - moment).total_seconds())
    assert lines[0].split() == ["PATH", "SIZE", "MODIFIED", "(UTC)", "AGE"]
    assert lines[1].split()[:4] == ["avatars/ada.txt", "2.9", "KiB", "2026-11-23"]
    assert lines[1].split()[4] == "09:40:54"
    assert lines[1].endswith(age)
    assert lines[2].startswith("b.txt ")
    # the columns line up with the database table's style: one header, fixed-width fields
    assert len({line.index("2026-11-23") for line in lines[1:]}) == 1


def test_media_listing_of_an_empty_folder(remote: Path) -> None:
    assert run("listbackups", "--media") == "No media files found.\n"
    assert json.loads(run("listbackups", "--media", "--json")) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-23T03:40:54.079975254-06:00", "2026-11-23T09:40:54.079975+00:00"),
        ("2026-11-23T09:40:54Z", "2026-11-23T09:40:54+00:00"),
        ("2026-11-23T10:40:54.5+01:00", "2026-11-23T09:40:54.500000+00:00"),
    ],
)
def test_rclone_time_to_utc(raw: str, expected: str) -> None:
    parsed = rclone_time(raw)
    assert parsed is not None
    assert parsed.isoformat() == expected


def test_unreadable_rclone_time_is_none() -> None:
    assert rclone_time("yesterday") is None


def test_human_age() -> None:
    assert human_age(5) == "5s"
    assert human_age(125) == "2m"
    assert human_age(3 * 3600 + 5 * 60) == "3h 05m"
    assert human_age(2 * 86400 + 4 * 3600 + 59) == "2d 04h"
    assert human_age(-3) == "0s"


def test_listbackups_json_through_manage_py(backups: list[Any], remote: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "DJANGO_RCLONE_TEST_SETTINGS_JSON": json.dumps({"REMOTE": str(remote)}),
    }
    done = subprocess.run(
        [sys.executable, "-c", MANAGE, "listbackups", "--json", "-d", "other", "--skip-checks"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [(r["name"], r["sha256"]) for r in json.loads(done.stdout)] == [(backups[1].name, backups[1].sha256)]


# -- the Python API ----------------------------------------------------------------------------------


def test_api_results_carry_path_size_checksum_duration(sqlite_db: str, remote: Path) -> None:
    made = django_rclone.backup("default")
    stored = remote / "db" / made.name
    assert made.path.endswith("/db/" + made.name)
    assert (made.size, made.sha256) == (stored.stat().st_size, sha256_of(stored))
    assert made.duration > 0
    [listed] = django_rclone.list_backups("default")
    assert (listed.name, listed.path, listed.size, listed.sha256) == (made.name, made.path, made.size, made.sha256)
    assert listed.manifest is not None
    assert listed.manifest.finished_at == made.manifest.finished_at
    # Manifests are always read now (a backup belongs to the alias its manifest names).
    fast = django_rclone.list_backups("default", with_manifests=False)
    assert fast[0].sha256 == made.sha256
    assert fast[0].path == made.path
    restored = django_rclone.restore("default")
    assert (restored.path, restored.size, restored.sha256, restored.verified) == (
        made.path,
        made.size,
        made.sha256,
        True,
    )
    assert restored.duration > 0


def test_commands_run_the_api_functions() -> None:
    assert django_rclone.backup is api.backup is backup_op.backup is dbbackup.backup
    assert django_rclone.restore is api.restore is restore_op.restore is dbrestore.restore
    assert django_rclone.list_backups is api.list_backups is listbackups.list_backups
