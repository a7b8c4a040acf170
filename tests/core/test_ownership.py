"""Whose backup is it, and who may delete it: manifests name the alias, run markers prove orphans,
backups made elsewhere (no manifest) are kept, and concurrent runs never share a name.

Real rclone on local-folder remotes, real SQLite databases, real ``manage.py`` subprocesses.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings

import django_rclone
from django_rclone import catalog
from django_rclone.conf import get_settings, load_settings
from django_rclone.exceptions import DjangoRcloneError, IntegrityError, LockTimeout, NameConflict
from django_rclone.locks import lock_path
from django_rclone.operations.verify import verify_backup
from django_rclone.rclone import Rclone
from tests.core.conftest import CONNECTOR, MANAGE, ROOT, marker, remote_files, start
from tests.testapp.models import Author

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = pytest.mark.usefixtures("no_stray_processes")

Settings = Callable[..., None]
AMBIGUOUS = "{database}-{servername}-{datetime}.{ext}"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def db(remote: Path) -> Path:
    return remote / "db"


# -- 14.4: the right backup for the right alias ------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_template_that_lets_one_alias_read_as_another_is_refused() -> None:
    aliases = {a: {"ENGINE": "django.db.backends.sqlite3", "NAME": f"/tmp/{a}.db"} for a in ("other", "other-b")}
    with override_settings(DATABASES=aliases):
        with pytest.raises(ImproperlyConfigured, match="alias 'other-b' read as one of 'other'"):
            load_settings({"REMOTE": "/tmp/x", "DB_FILENAME_TEMPLATE": AMBIGUOUS})
        # A separator no alias contains keeps the servername apart from the alias.
        load_settings({"REMOTE": "/tmp/x", "DB_FILENAME_TEMPLATE": "{database}~{servername}-{datetime}.{ext}"})
        load_settings({"REMOTE": "/tmp/x"})  # the default template is unambiguous


def test_ambiguous_template_fails_the_system_check_and_the_command(tmp_path: Path) -> None:
    extra = {"other-b": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "b.sqlite3")}}
    rclone = {"REMOTE": str(tmp_path / "remote"), "DB_FILENAME_TEMPLATE": AMBIGUOUS}
    env = {"DJANGO_RCLONE_TEST_EXTRA_DATABASES": json.dumps(extra)}
    check = subprocess.run(
        [sys.executable, "-c", MANAGE, "check", "--tag", "django_rclone"],
        env={
            **os.environ,
            **env,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(ROOT),
            "DJANGO_RCLONE_TEST_SETTINGS_JSON": json.dumps(rclone),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode != 0
    assert "django_rclone.E003" in check.stderr
    assert "'other-b'" in check.stderr
    backup = start(["dbbackup", "-d", "other", "-s", "b-host"], rclone, env)
    _, err = backup.communicate(timeout=120)
    assert backup.returncode != 0
    assert "DB_FILENAME_TEMPLATE" in err
    assert "Traceback" not in err
    assert not (tmp_path / "remote" / "db").exists()


def test_a_backup_belongs_to_the_alias_its_manifest_names(sqlite_db: str, remote: Path) -> None:
    call_command("migrate", database="other", verbosity=0)
    Author.objects.using("other").all().delete()  # the "other" file outlives tests run before this one
    Author.objects.using("other").create(name="from other")
    made = django_rclone.backup("other", output_filename="nightly.sqlite3")  # a name the template cannot read
    django_rclone.backup("default")
    assert [e.name for e in django_rclone.list_backups("other")] == ["nightly.sqlite3"]
    assert "nightly.sqlite3" not in [e.name for e in django_rclone.list_backups("default")]
    Author.objects.using("other").all().delete()
    restored = django_rclone.restore("other")  # the newest backup of "other" is the one its manifest names
    assert (restored.name, restored.verified) == (made.name, True)
    assert list(Author.objects.using("other").values_list("name", flat=True)) == ["from other"]
    out = run("cleanbackups", "-d", "other", "--keep", "1", "--dry-run")
    assert "Nothing to delete." in out


def test_a_name_of_another_alias_is_refused_as_output_filename(sqlite_db: str, remote: Path) -> None:
    with pytest.raises(DjangoRcloneError, match="reads as a backup of another database"):
        django_rclone.backup("other", output_filename="default-2024-01-01-000000.sqlite3")


def test_another_alias_pair_copied_over_the_newest_is_refused(sqlite_db: str, remote: Path) -> None:
    call_command("migrate", database="other", verbosity=0)
    django_rclone.backup("default")
    newest = django_rclone.backup("default")
    theirs = django_rclone.backup("other")
    shutil.copy(db(remote) / theirs.name, db(remote) / newest.name)
    shutil.copy(db(remote) / f"{theirs.name}.manifest.json", db(remote) / f"{newest.name}.manifest.json")
    with pytest.raises(IntegrityError, match=f"describes '{theirs.name}'"):
        django_rclone.restore("default")
    # The same pair with the manifest's name edited to fit: it still records another alias.
    forged = json.loads((db(remote) / f"{newest.name}.manifest.json").read_text())
    forged["name"] = newest.name
    (db(remote) / f"{newest.name}.manifest.json").write_text(json.dumps(forged))
    with pytest.raises(IntegrityError, match="records database 'other'"):
        django_rclone.restore("default")
    assert not verify_backup(newest.name).ok
    [row] = [r for r in json.loads(run("listbackups", "--json")) if r["name"] == newest.name]
    assert (row["verified"], row["database"]) == (False, "default")
    with pytest.raises(CommandError, match="records database 'other'"):
        call_command("dbrestore", "--noinput", stdout=io.StringIO(), stderr=io.StringIO())
    django_rclone.restore("default", input_path=theirs.name)  # named with -i, another alias's backup restores


def test_a_manifest_naming_another_backup_is_refused(sqlite_db: str, remote: Path) -> None:
    older = django_rclone.backup("default")
    newest = django_rclone.backup("default")
    shutil.copy(db(remote) / older.name, db(remote) / newest.name)
    shutil.copy(db(remote) / f"{older.name}.manifest.json", db(remote) / f"{newest.name}.manifest.json")
    with pytest.raises(IntegrityError, match=f"describes '{older.name}'"):
        django_rclone.restore("default")
    result = verify_backup(newest.name)
    assert not result.ok
    assert "describes" in result.problem
    django_rclone.restore("default", input_path=older.name)  # the untouched one still restores


# -- 16: backups made elsewhere are kept; only our interrupted runs are swept -----------------------


def _hand_copied(remote: Path, made: Any, stamp: str) -> str:
    """Turn a backup into a 0.1.0-style one: renamed to an old date, its manifest gone."""
    name = f"default-{stamp}.sqlite3"
    (db(remote) / made.name).rename(db(remote) / name)
    (db(remote) / f"{made.name}.manifest.json").unlink()
    return name


def test_backups_without_manifest_are_listed_restored_counted_and_never_swept(
    sqlite_db: str, rclone_settings: Settings, remote: Path
) -> None:
    rclone_settings(DB_CLEANUP_KEEP=2)
    Author.objects.create(name="in the old backup")
    old = [_hand_copied(remote, django_rclone.backup("default"), f"2024-01-0{d}-000000") for d in (1, 2, 3)]
    rows = json.loads(run("listbackups", "--json"))
    assert [(r["name"], r["verified"], r["manifest"]) for r in rows] == [(n, False, False) for n in reversed(old)]
    assert "UNVERIFIED" in run("listbackups")
    Author.objects.all().delete()
    restored = django_rclone.restore("default")  # the latest, unverified, with a warning
    assert restored.name == old[-1]
    assert not restored.verified
    assert any("no manifest" in w for w in restored.warnings)
    assert list(Author.objects.values_list("name", flat=True)) == ["in the old backup"]
    out = run("cleanbackups", "--dry-run")
    assert "orphan" not in out
    assert f"Would delete {old[0]}: beyond the newest 2" in out
    # an interrupted run of ours: its object and marker, no manifest
    interrupted = "default-2024-02-01-000000.sqlite3"
    (db(remote) / interrupted).write_bytes(b"half an upload")
    marker(remote, interrupted, hours_old=30)
    young = "default-2024-02-02-000000.sqlite3"
    (db(remote) / young).write_bytes(b"still being written")
    marker(remote, young, hours_old=0)
    out = run("cleanbackups")
    assert f"Deleted {interrupted}: orphan" in out
    assert f"Deleted {old[0]}: beyond the newest 2" in out
    left = remote_files(remote)
    assert f"db/{old[1]}" in left
    assert f"db/{old[2]}" in left
    assert f"db/{young}" in left
    assert not [f for f in left if f.startswith(f"db/{interrupted}")]  # object and marker both gone


def test_dbbackup_clean_never_deletes_old_backups_as_orphans(
    sqlite_db: str, rclone_settings: Settings, remote: Path
) -> None:
    rclone_settings(DB_CLEANUP_KEEP=10)
    old = [_hand_copied(remote, django_rclone.backup("default"), f"2024-01-0{d}-000000") for d in (1, 2, 3)]
    made = django_rclone.backup("default", clean=True)
    assert made.cleaned == []
    assert all(f"db/{n}" in remote_files(remote) for n in old)


# -- 14.5: two runs never lose a backup to each other ------------------------------------------------


def _settings(remote: str) -> dict[str, object]:
    return {
        "REMOTE": remote,
        "CONNECTORS": {"default": {"CONNECTOR": CONNECTOR, "DUMP_ARGS": ["--size", "300000"], "RESTORE_ARGS": []}},
    }


@pytest.mark.parametrize("spelling", ["same", "local-backend"])
def test_simultaneous_runs_from_different_hosts_never_share_a_name(tmp_path: Path, spelling: str, remote: Path) -> None:
    folder = tmp_path / "shared"
    second = str(folder) if spelling == "same" else f":local:{folder}"
    for attempt in range(3):
        runs = []
        for i, spelled in enumerate((str(folder), second)):
            tmp = tmp_path / f"tmp-{attempt}-{i}"
            tmp.mkdir()
            settings = _settings(spelled)
            settings["CONNECTORS"]["default"]["DUMP_ARGS"] += ["--seed", str(attempt * 2 + i)]  # type: ignore[index]
            runs.append(start(["dbbackup"], settings, {"TMPDIR": str(tmp)}))
        for proc in runs:
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
    files = remote_files(folder)
    assert not [f for f in files if f.endswith(".pending")]  # every marker removed at commit
    manifests = [json.loads((folder / f).read_text()) for f in files if f.endswith(".manifest.json")]
    assert len(manifests) == 6
    assert len({m["name"] for m in manifests}) == 6
    assert len({m["sha256"] for m in manifests}) == 6  # six different payloads, none overwritten
    for manifest in manifests:
        data = (folder / "db" / manifest["name"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (manifest["size"], manifest["sha256"])
    with override_settings(DJANGO_RCLONE=_settings(str(folder))):
        for manifest in manifests:
            assert verify_backup(manifest["name"]).ok


def test_a_name_another_run_has_claimed_is_not_used(sqlite_db: str, remote: Path) -> None:
    rival = f"taken.sqlite3.{'c' * 32}.pending"
    db(remote).mkdir(exist_ok=True)
    (db(remote) / rival).write_text("{}")
    with pytest.raises(NameConflict, match=re.escape("another run is writing 'taken.sqlite3'")):
        django_rclone.backup("default", output_filename="taken.sqlite3")
    assert remote_files(remote) == [f"db/{rival}"]  # nothing written, our marker removed again


def test_a_run_waiting_for_the_lock_says_so_and_gives_up(
    sqlite_db: str, rclone_settings: Settings, remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rclone_settings(LOCK_TIMEOUT=1)
    conf = get_settings()
    fd = os.open(lock_path(conf.remote, "default"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(LockTimeout, match=r"held the lock .* for more than 1 s \(LOCK_TIMEOUT\)"):
            django_rclone.backup("default")
    finally:
        os.close(fd)
    assert "Waiting for another backup of database 'default'" in capsys.readouterr().err
    assert catalog.scan(conf, Rclone.from_settings(conf)) == []
    django_rclone.backup("default")  # free again: runs at once


def test_bookkeeping_files_are_never_backups(sqlite_db: str, remote: Path) -> None:
    made = django_rclone.backup("default")
    with pytest.raises(DjangoRcloneError, match="keeps for its own bookkeeping"):
        django_rclone.backup("default", output_filename=f"x.{'d' * 32}.pending")
    with pytest.raises(DjangoRcloneError, match="keeps for its own bookkeeping"):
        django_rclone.restore("default", input_path=f"{made.name}.manifest.json")
    assert [e.name for e in django_rclone.list_backups()] == [made.name]


def test_an_interrupted_run_under_a_name_the_template_cannot_read_is_swept(sqlite_db: str, remote: Path) -> None:
    name = "nightly.sqlite3"
    db(remote).mkdir(exist_ok=True)
    (db(remote) / name).write_bytes(b"half an upload")
    body = {"run_id": "a" * 32, "name": name, "database": "default", "host": "h", "pid": 1, "started": ""}
    marker(remote, name, hours_old=30, body=json.dumps(body))
    (db(remote) / "elsewhere.sqlite3").write_bytes(b"not ours: no marker, no manifest")
    out = run("cleanbackups", "-d", "default")
    assert f"Deleted {name}: orphan" in out
    assert remote_files(remote) == ["db/elsewhere.sqlite3"]
