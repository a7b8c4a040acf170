"""Copies on several remotes (COPIES, 3-2-1): real SQLite backups, real rclone, local-folder remotes
and the loopback S3 server as copies, a copy remote that is down, restore fallback and retention."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from django_rclone import signals
from django_rclone.conf import load_settings
from django_rclone.failures import COPY
from django_rclone.operations.restore import restore
from django_rclone.rclone import SMALL_FILE_LIMIT
from tests.core.test_pings import Server, server  # noqa: F401 (the loopback HTTP fixture)
from tests.servers.s3 import ACCESS_KEY, BUCKET, SECRET_KEY, LoopbackS3
from tests.testapp.models import Author

pytestmark = pytest.mark.usefixtures("no_stray_processes")

MANIFEST = ".manifest.json"
#: Fail fast against a closed port instead of rclone's default retries.
FAST_FAIL = ["--retries", "1", "--low-level-retries", "1", "--contimeout", "2s"]


def run(*args: str, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder/db`` by name, with its bytes."""
    db = folder / "db"
    return {p.name: p.read_bytes() for p in sorted(db.iterdir())} if db.is_dir() else {}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_env(s3: LoopbackS3 | None, name: str = "OFF") -> dict[str, str]:
    """RCLONE_ENV for a remote ``off:`` at the loopback S3 server, or at a closed port (``None``)."""
    return {
        f"RCLONE_CONFIG_{name}_TYPE": "s3",
        f"RCLONE_CONFIG_{name}_PROVIDER": "Rclone",
        f"RCLONE_CONFIG_{name}_ENDPOINT": f"http://127.0.0.1:{s3.port if s3 else closed_port()}",
        f"RCLONE_CONFIG_{name}_ACCESS_KEY_ID": ACCESS_KEY,
        f"RCLONE_CONFIG_{name}_SECRET_ACCESS_KEY": SECRET_KEY,
    }


@pytest.fixture
def failures() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    def backup_failed(**kwargs: Any) -> None:
        seen.append(("backup", kwargs))

    def copy_failed(**kwargs: Any) -> None:
        seen.append(("copy", kwargs))

    signals.db_backup_failed.connect(backup_failed)
    signals.db_copy_failed.connect(copy_failed)
    yield seen
    signals.db_backup_failed.disconnect(backup_failed)
    signals.db_copy_failed.disconnect(copy_failed)


def test_backup_is_copied_to_a_folder_and_to_s3_with_its_manifest_last(
    rclone_settings: Callable[..., None], sqlite_db: str, remote: Path, tmp_path: Path, loopback_s3: LoopbackS3
) -> None:
    copy = tmp_path / "copy"
    # A third copy spelled as a connection string with its keys in it: they go to rclone's environment.
    endpoint = f"http://127.0.0.1:{loopback_s3.port}"
    inline = (
        f":s3,provider=Rclone,endpoint='{endpoint}',access_key_id={ACCESS_KEY},secret_access_key={SECRET_KEY}"
        ":backups/inline"
    )
    shown = ":s3,provider=***,endpoint=***,access_key_id=***,secret_access_key=***:backups/inline"
    rclone_settings(COPIES=[str(copy), {"REMOTE": "loop:backups/site"}, inline], RCLONE_ENV=loopback_s3.env)
    Author.objects.create(name="Copied")
    run("dbbackup")
    primary = files(remote)
    assert len(primary) == 2
    assert files(copy) == primary  # the object and the manifest, byte for byte
    assert files(loopback_s3.root / BUCKET / "site") == primary
    assert files(loopback_s3.root / BUCKET / "inline") == primary
    out, _ = run("listbackups", "--json")
    (entry,) = json.loads(out)
    assert entry["remotes"] == [str(remote), str(copy), "loop:backups/site", shown]
    assert SECRET_KEY not in out
    table, _ = run("listbackups")
    assert table.splitlines()[0].endswith("REMOTES")
    assert table.splitlines()[1].endswith(f"{remote}, {copy}, loop:backups/site, {shown}")


def test_a_copy_remote_that_is_down_fails_the_run_keeps_the_primary_and_synccopies_fills_it(
    rclone_settings: Callable[..., None],
    sqlite_db: str,
    remote: Path,
    loopback_s3: LoopbackS3,
    failures: list[tuple[str, dict[str, Any]]],
    server: Server,  # noqa: F811
) -> None:
    keys = {"COPIES": ["off:backups/site"], "RCLONE_FLAGS": FAST_FAIL, "PING_URLS": {"copy": server.url}}
    rclone_settings(RCLONE_ENV=s3_env(None), **keys)
    with pytest.raises(CommandError, match=r"1 copy failed .*off:backups/site.*synccopies"):
        run("dbbackup", "--clean")  # retention still runs on REMOTE, and skips the remote that is down
    primary = files(remote)
    assert len(primary) == 2  # committed on REMOTE, never removed
    stages = [(kind, kw["stage"], kw.get("remote")) for kind, kw in failures]
    assert ("copy", COPY, "off:backups/site") in stages
    assert ("backup", COPY, "off:backups/site") in stages
    ping = urlsplit(server.url).path
    assert server.paths() == [f"{ping}/start", f"{ping}/fail"]
    assert "copy of database 'default' failed at stage copy" in server.requests[-1][2]
    out, _ = run("listbackups", "--json")
    (entry,) = json.loads(out)
    assert entry["remotes"] == [str(remote)]
    with pytest.raises(CommandError, match="off:backups/site"):
        run("synccopies")  # still down: still non-zero

    rclone_settings(RCLONE_ENV=s3_env(loopback_s3), **keys)  # the copy remote is back
    out, _ = run("synccopies")
    assert "Copied 1 backup(s)" in out
    assert files(loopback_s3.root / BUCKET / "site") == primary
    assert server.paths()[-2:] == [f"{ping}/start", ping]  # start and success pings of the copy
    out, _ = run("synccopies")
    assert "Copied 0 backup(s); 1 cop(ies) already complete" in out
    out, _ = run("listbackups", "--json")
    assert json.loads(out)[0]["remotes"] == [str(remote), "off:backups/site"]


def test_synccopies_replaces_a_copy_whose_manifest_or_size_differs(
    rclone_settings: Callable[..., None], sqlite_db: str, remote: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    rclone_settings(COPIES=[str(copy)])
    run("dbbackup")
    primary = files(remote)
    name = next(n for n in primary if not n.endswith(MANIFEST))
    (copy / "db" / name).write_bytes(primary[name][:-10])  # truncated copy
    (copy / "db" / (name + MANIFEST)).write_text("{}")  # a manifest that is not the primary's
    out, _ = run("listbackups", "--json")
    assert json.loads(out)[0]["remotes"] == [str(remote)]
    out, _ = run("synccopies", "--dry-run")
    assert f"Would copy {name} to {copy}" in out
    assert files(copy) != primary
    out, _ = run("synccopies")
    assert f"Copied {name} to {copy}" in out
    assert files(copy) == primary


def test_synccopies_replaces_a_copy_whose_manifest_is_padded_past_the_read_cap(
    rclone_settings: Callable[..., None], sqlite_db: str, remote: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    rclone_settings(COPIES=[str(copy)])
    run("dbbackup")
    primary = files(remote)
    name = next(n for n in primary if n.endswith(MANIFEST))
    (copy / "db" / name).write_bytes(primary[name] + b" " * SMALL_FILE_LIMIT)  # not read, replaced
    out, _ = run("synccopies")
    assert f"Copied {name.removesuffix(MANIFEST)} to {copy}" in out
    assert files(copy) == primary


def test_a_damaged_primary_is_not_copied(
    rclone_settings: Callable[..., None], sqlite_db: str, remote: Path, tmp_path: Path
) -> None:
    rclone_settings()
    run("dbbackup")
    name = next(n for n in files(remote) if not n.endswith(MANIFEST))
    (remote / "db" / name).write_bytes(b"short")
    copy = tmp_path / "copy"
    rclone_settings(COPIES=[str(copy)])
    with pytest.raises(CommandError, match=r"is 5 bytes but its manifest says \d+; not copied"):
        run("synccopies")
    assert files(copy) == {}


def test_restore_falls_back_to_the_copy_when_the_primary_object_is_corrupt(
    rclone_settings: Callable[..., None], sqlite_db: str, remote: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    rclone_settings(COPIES=[str(copy)])
    Author.objects.create(name="Kept")
    run("dbbackup")
    Author.objects.create(name="After the backup")
    name = next(n for n in files(remote) if not n.endswith(MANIFEST))
    obj = remote / "db" / name
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 1  # same size: only the checksum while streaming can tell
    obj.write_bytes(bytes(data))

    with pytest.raises(CommandError, match=r"sha256|checksum|does not match|not valid zstd data"):
        run("dbrestore", "--noinput", "--from", str(remote))
    assert sorted(Author.objects.values_list("name", flat=True)) == ["After the backup", "Kept"]

    out, err = run("dbrestore", "--noinput")
    assert f"on {copy}" in out
    assert f"{remote} not used" in err
    assert f"restored from the copy on {copy}" in err
    assert list(Author.objects.values_list("name", flat=True)) == ["Kept"]
    assert len(files(copy)) == 2  # the pre-restore undo backups stay on REMOTE only


def test_restore_falls_back_on_a_size_mismatch_and_from_chooses_the_copy(
    rclone_settings: Callable[..., None], sqlite_db: str, remote: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    rclone_settings(COPIES=[{"REMOTE": str(copy)}])
    Author.objects.create(name="Kept")
    run("dbbackup")
    name = next(n for n in files(remote) if not n.endswith(MANIFEST))
    (remote / "db" / name).write_bytes(b"short")
    result = restore("default")
    assert (result.remote, result.name) == (str(copy), name)
    assert any("bytes on the remote but its manifest says" in w for w in result.warnings)
    assert restore("default", source=str(copy)).remote == str(copy)
    with pytest.raises(CommandError, match="neither REMOTE nor a remote in COPIES"):
        run("dbrestore", "--noinput", "--from", "elsewhere:")


def test_restore_falls_back_when_the_primary_is_unreachable(
    rclone_settings: Callable[..., None], sqlite_db: str, remote: Path, loopback_s3: LoopbackS3
) -> None:
    rclone_settings(COPIES=["loop:backups/site"], RCLONE_ENV=loopback_s3.env)
    Author.objects.create(name="Kept")
    run("dbbackup")
    Author.objects.all().delete()
    # REMOTE now points at an S3 endpoint that is down; the copy is reachable.
    rclone_settings(
        REMOTE="off:backups/site",
        COPIES=["loop:backups/site"],
        RCLONE_ENV={**loopback_s3.env, **s3_env(None)},
        RCLONE_FLAGS=FAST_FAIL,
    )
    # The undo backup goes to REMOTE, which is down: the restore refuses to start without it ...
    with pytest.raises(CommandError, match=r"undo backup .* failed, so the restore did not start"):
        run("dbrestore", "--noinput")
    assert list(Author.objects.values_list("name", flat=True)) == []
    # ... and restores from the copy when told to go without one.
    out, _ = run("dbrestore", "--noinput", "--no-undo-backup")
    assert "on loop:backups/site" in out
    assert list(Author.objects.values_list("name", flat=True)) == ["Kept"]


def test_retention_cleans_every_remote_with_its_policy(
    rclone_settings: Callable[..., None], sqlite_db: str, remote: Path, tmp_path: Path
) -> None:
    same, own = tmp_path / "same", tmp_path / "own"
    rclone_settings(
        COPIES=[str(same), {"REMOTE": str(own), "DB_CLEANUP_KEEP": 3}],
        DB_CLEANUP_KEEP=2,
        DB_DATE_FORMAT="%Y-%m-%d-%H%M%S-%f",
    )
    for _ in range(4):
        run("dbbackup")
    assert [len(files(f)) for f in (remote, same, own)] == [8, 8, 8]
    out, _ = run("cleanbackups")
    assert f"(on {own})" in out
    assert [len(files(f)) for f in (remote, same, own)] == [4, 4, 6]
    newest = sorted(files(remote))
    assert sorted(files(same)) == newest
    run("dbbackup", "--clean")
    assert [len(files(f)) for f in (remote, same, own)] == [4, 4, 6]
    assert sorted(files(remote)) == sorted(files(same)) != newest


@pytest.mark.parametrize(
    ("copies", "message"),
    [
        ("offsite:bucket", "use a list"),
        (["/same"], "a second time"),
        (["/same/", "x:"], "a second time"),
        (["off,provider=AWS:a", "off,provider=Other:b"], "RCLONE_CONFIG_OFF_PROVIDER to another value"),
        ([{"REMOTE": "x:y", "KEEP": 1}], "use REMOTE, DB_RETENTION and DB_CLEANUP_KEEP"),
        ([{"REMOTE": "x:y", "DB_CLEANUP_KEEP": 0}], "has DB_CLEANUP_KEEP 0"),
        (["not a remote"], "COPIES'\\]\\[0\\]"),
        (["/same/media"], "overlaps '/same'"),
        (["/same/db/x"], "overlaps '/same'"),
        (["/elsewhere", "/elsewhere/db"], "COPIES'\\]\\[1\\] \\('/elsewhere/db'\\) overlaps '/elsewhere'"),
    ],
)
def test_copies_setting_is_checked_like_remote(copies: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings({"REMOTE": "/same", "COPIES": copies})


def test_copy_connection_string_secrets_go_to_the_environment_like_remotes() -> None:
    conf = load_settings({"REMOTE": ":b2,key=primarysecret:bucket", "COPIES": [":s3,secret_access_key=copysecret:bkt"]})
    (copy,) = conf.copies
    assert copy.remote == "django_rclone_remote_copy1:bkt"
    assert copy.display == ":s3,secret_access_key=***:bkt"
    assert conf.rclone_env["RCLONE_CONFIG_DJANGO_RCLONE_REMOTE_COPY1_SECRET_ACCESS_KEY"] == "copysecret"
    assert conf.rclone_env["RCLONE_CONFIG_DJANGO_RCLONE_REMOTE_KEY"] == "primarysecret"
    assert "copysecret" in conf.secrets
    with pytest.raises(ImproperlyConfigured) as refused:
        load_settings({"REMOTE": "/same", "COPIES": [":s3,secret_access_key=copysecret:x"] * 2})
    assert "a second time" in str(refused.value)
    assert "copysecret" not in str(refused.value)
    with pytest.raises(ImproperlyConfigured, match="a second time"):
        load_settings({"REMOTE": ":b2,key=primarysecret:bucket", "COPIES": [":b2,key=primarysecret:bucket"]})


def test_copies_beside_the_primary_are_accepted() -> None:
    conf = load_settings(
        {"REMOTE": "s3:", "COPIES": ["s3:other", "/same/dbx", {"REMOTE": "b2:x", "DB_CLEANUP_KEEP": 4}]}
    )
    assert [c.remote for c in conf.copies] == ["s3:other", "/same/dbx", "b2:x"]
    assert conf.for_copy(conf.copies[2]).db_cleanup_keep == 4


def test_status_page_data_names_the_remotes_of_the_newest_backup(
    rclone_settings: Callable[..., None], sqlite_db: str, remote: Path, tmp_path: Path
) -> None:
    from django_rclone import status

    copy = tmp_path / "copy"
    rclone_settings(COPIES=[str(copy)])
    run("dbbackup")
    report = status.collect()
    (default,) = [a for a in report.aliases if a.database == "default"]
    assert default.copies == f"{remote}, {copy}"
