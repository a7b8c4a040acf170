"""Management commands end to end: listing, retention, restore guards, media, signals, API."""

from __future__ import annotations

import hashlib
import io
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

import django_rclone
from django_rclone import signals
from django_rclone.codecs import zstd
from django_rclone.plugins import get_host, hookimpl
from tests.core.conftest import remote_files
from tests.testapp.models import Author

pytestmark = pytest.mark.usefixtures("no_stray_processes")


def fake_backup(remote: Path, name: str, committed: bool = True) -> None:
    folder = remote / "db"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(b"x")
    if committed:
        (folder / f"{name}.manifest.json").write_text("{}")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_listbackups_shows_committed_backups_only(remote: Path) -> None:
    fake_backup(remote, "default-2024-01-01-000000.sqlite3")
    fake_backup(remote, "default-2024-01-02-000000.sqlite3")
    fake_backup(remote, "other-2024-01-03-000000.sqlite3")
    fake_backup(remote, "default-2024-01-04-000000.sqlite3", committed=False)  # a run of ours is writing it:
    (remote / "db" / f"default-2024-01-04-000000.sqlite3.{'a' * 32}.pending").write_text("{}")  # its marker
    fake_backup(remote, "holiday-photo.jpg")  # not made by the template
    lines = run("listbackups").splitlines()
    assert lines[0].split() == ["NAME", "DATABASE", "SIZE", "CODEC", "RATIO", "CREATED", "(UTC)", "AGE", "KIND"]
    assert [line.split()[0] for line in lines[1:]] == [
        "other-2024-01-03-000000.sqlite3",
        "default-2024-01-02-000000.sqlite3",
        "default-2024-01-01-000000.sqlite3",
    ]
    only_default = run("listbackups", "--database", "default").splitlines()[1:]
    assert [line.split()[1] for line in only_default] == ["default", "default"]


def test_listbackups_empty(remote: Path) -> None:
    assert run("listbackups").strip() == "No backups found."


def test_clean_keeps_n_per_alias_and_never_the_new_one(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(DB_CLEANUP_KEEP=2)
    for day in ("01", "02", "03"):
        fake_backup(remote, f"default-2024-01-{day}-000000.sqlite3")
        fake_backup(remote, f"other-2024-01-{day}-000000.sqlite3")
    fake_backup(remote, "default-2099-01-01-000000.sqlite3")  # clock skew: "newer" than the new backup
    call_command("dbbackup", "--clean", verbosity=0)
    left = {f.removeprefix("db/") for f in remote_files(remote) if not f.endswith(".manifest.json")}
    new = {n for n in left if n.startswith("default-20") and not n.startswith(("default-2024", "default-2099"))}
    assert len(new) == 1
    assert left == new | {"default-2099-01-01-000000.sqlite3"} | {
        f"other-2024-01-{d}-000000.sqlite3" for d in ("01", "02", "03")
    }
    for name in left:
        assert (remote / "db" / f"{name}.manifest.json").exists()


def test_restore_needs_noinput_without_a_terminal(sqlite_db: str, remote: Path) -> None:
    call_command("dbbackup", verbosity=0)
    with pytest.raises(CommandError, match="pass --noinput"):
        call_command("dbrestore", verbosity=0)


@pytest.mark.parametrize("bad", ["../default.sqlite3", "other:x.dump", "db/x.dump", "/etc/passwd"])
def test_restore_refuses_paths_outside_the_backup_folder(remote: Path, bad: str) -> None:
    with pytest.raises(CommandError, match="not a plain backup name"):
        call_command("dbrestore", "--noinput", "--input-path", bad, verbosity=0)


def test_restore_of_missing_backup(remote: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command("dbrestore", "--noinput", "--input-path", "default-2024-01-01-000000.sqlite3", verbosity=0)
    with pytest.raises(CommandError, match="no backups of database 'default'"):
        call_command("dbrestore", "--noinput", verbosity=0)


def test_custom_base_connector_subclass_round_trip(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": "tests.core.custom_connectors.CatFileConnector"})
    Author.objects.create(name="kept")
    call_command("dbbackup", verbosity=0)
    assert any(f.endswith(".raw.zst") for f in remote_files(remote))  # zstd by default
    Author.objects.all().delete()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert list(Author.objects.values_list("name", flat=True)) == ["kept"]


def test_extension_option_and_verbosity_zero(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": {"EXTENSION": "sql"}})
    assert run("dbbackup", "--verbosity", "0") == ""
    assert [f for f in remote_files(remote) if f.endswith(".sql.zst")]


@pytest.fixture
def received() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    got: list[tuple[str, dict[str, Any]]] = []
    names = [n for n in dir(signals) if n.startswith(("pre_", "post_"))]
    handlers = {}
    for name in names:

        def handler(sender: Any, _name: str = name, **kwargs: Any) -> None:
            got.append((_name, kwargs))

        handlers[name] = handler
        getattr(signals, name).connect(handler)
    yield got
    for name, handler in handlers.items():
        getattr(signals, name).disconnect(handler)


def test_db_signals_carry_documented_kwargs(
    sqlite_db: str, remote: Path, received: list[tuple[str, dict[str, Any]]]
) -> None:
    call_command("dbbackup", verbosity=0)
    call_command("dbrestore", "--noinput", verbosity=0)
    order = [name for name, _ in received]
    # The restore's undo backup is an ordinary backup operation, so it sends the backup signals.
    assert order == [
        "pre_db_backup",
        "post_db_backup",
        "pre_db_restore",
        "pre_db_backup",
        "post_db_backup",
        "post_db_restore",
    ]
    post_backup = received[1][1]
    assert post_backup["database"] == "default"
    assert post_backup["path"] == post_backup["result"].name
    assert {"database", "connector", "path"} <= set(received[2][1])
    assert received[4][1]["result"].manifest.kind == "pre-restore"
    assert received[5][1]["result"].verified is True
    assert received[5][1]["result"].undo == received[4][1]["result"].name


def test_python_api_results(sqlite_db: str, remote: Path) -> None:
    result = django_rclone.backup("default")
    stored = (remote / "db" / result.name).read_bytes()
    assert result.size == len(stored)
    assert result.sha256 == hashlib.sha256(stored).hexdigest()
    assert [e.name for e in django_rclone.list_backups("default")] == [result.name]
    restored = django_rclone.restore("default")
    assert (restored.name, restored.sha256, restored.verified) == (result.name, result.sha256, True)


def test_a_plugin_can_start_the_dump_itself(sqlite_db: str, remote: Path) -> None:
    class Wrapper:
        @hookimpl
        def django_rclone_dump(self, connector: Any, database: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                # Still checked by the alias's connector (SQLite: the dump's final COMMIT;).
                ["printf", f"-- dumped {database} by plugin\nCOMMIT;\n"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )

    host = get_host()
    host.register(Wrapper(), name="wrapper")
    try:
        result = django_rclone.backup("default")
    finally:
        host.unregister("wrapper")
    assert result.name.endswith(".zst")
    assert zstd.decompress((remote / "db" / result.name).read_bytes()) == b"-- dumped default by plugin\nCOMMIT;\n"


# -- media ----------------------------------------------------------------------------------------


@pytest.fixture
def media(tmp_path: Path, remote: Path) -> Iterator[Path]:
    root = tmp_path / "media"
    with override_settings(MEDIA_ROOT=str(root)):
        yield root


def test_mediabackup_refuses_empty_or_missing_media_root(media: Path, remote: Path) -> None:
    (remote / "media").mkdir()
    (remote / "media" / "precious.jpg").write_bytes(b"keep me")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("mediabackup", verbosity=0)
    media.mkdir()
    with pytest.raises(CommandError, match="has no files"):
        call_command("mediabackup", verbosity=0)
    assert (remote / "media" / "precious.jpg").exists()
    call_command("mediabackup", "--allow-empty", verbosity=0)
    assert not (remote / "media" / "precious.jpg").exists()


def test_media_round_trip_and_backup_dir(media: Path, remote: Path) -> None:
    (media / "a").mkdir(parents=True)
    (media / "a" / "one.txt").write_text("one")
    (media / "two.txt").write_text("two")
    call_command("mediabackup", verbosity=0)
    assert remote_files(remote) == ["media/a/one.txt", "media/two.txt"]
    (media / "two.txt").unlink()
    call_command("mediabackup", "--backup-dir", str(remote / "media-replaced"), verbosity=0)
    assert (remote / "media-replaced" / "two.txt").read_text() == "two"
    (media / "a" / "one.txt").write_text("changed locally")
    (media / "stray.txt").write_text("not on remote")
    call_command("mediarestore", "--noinput", verbosity=0)
    assert (media / "a" / "one.txt").read_text() == "one"
    assert not (media / "stray.txt").exists()
    assert "a/one.txt" in run("listbackups", "--media")


def test_mediarestore_refuses_empty_remote_and_needs_noinput(media: Path, remote: Path) -> None:
    media.mkdir()
    (media / "local.txt").write_text("local only")
    with pytest.raises(CommandError, match="pass --noinput"):
        call_command("mediarestore", verbosity=0)
    with pytest.raises(CommandError, match="empty or missing"):
        call_command("mediarestore", "--noinput", verbosity=0)
    assert (media / "local.txt").exists()


def test_a_failing_post_signal_receiver_does_not_fail_the_backup(
    sqlite_db: str, remote: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("alerting is down")

    signals.post_db_backup.connect(broken)
    try:
        result = django_rclone.backup("default")
    finally:
        signals.post_db_backup.disconnect(broken)
    assert (remote / "db" / f"{result.name}.manifest.json").exists()
    assert "alerting is down" in caplog.text
