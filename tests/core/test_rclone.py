"""The rclone runner against the real binary and real local remotes."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_rclone.exceptions import DjangoRcloneError, FileTooLarge, RcloneError
from django_rclone.rclone import SMALL_FILE_LIMIT, Rclone, find_binary, join


def test_join() -> None:
    assert join("r:", "db", "x.dump") == "r:db/x.dump"
    assert join("r:base", "db/", "/x.dump") == "r:base/db/x.dump"
    assert join("/srv/b", "db") == "/srv/b/db"
    assert join("r:base") == "r:base"


def test_bytes_round_trip_stat_and_listing(tmp_path: Path) -> None:
    rc = Rclone()
    target = str(tmp_path / "dir" / "obj.bin")
    assert rc.lsjson(str(tmp_path / "dir")) == []  # missing folder lists as empty
    assert rc.stat(target) is None
    rc.rcat_bytes(target, b"\x00hello\xff")
    assert rc.cat_bytes(target) == b"\x00hello\xff"
    record = rc.stat(target)
    assert record is not None
    assert record["Size"] == 7
    assert [r["Name"] for r in rc.lsjson(str(tmp_path / "dir"))] == ["obj.bin"]
    rc.deletefile(target)
    assert rc.stat(target) is None


def test_errors_carry_rclone_stderr(tmp_path: Path) -> None:
    with pytest.raises(RcloneError) as caught:
        Rclone().cat_bytes(str(tmp_path / "missing" / "x"))
    assert "rclone cat" in str(caught.value)
    assert "not found" in str(caught.value)
    assert "Config file" not in str(caught.value)  # rclone's harmless notice is filtered


def test_config_file_and_flags_are_honoured(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    config = tmp_path / "rclone.conf"
    config.write_text(f"[vault]\ntype = alias\nremote = {store}\n")
    rc = Rclone(config=str(config), flags=("--log-level", "ERROR"))
    assert rc.argv("version")[1:] == ["--config", str(config), "--log-level", "ERROR", "version"]
    rc.rcat_bytes("vault:db/a.txt", b"via alias remote")
    assert (store / "db" / "a.txt").read_bytes() == b"via alias remote"
    with pytest.raises(RcloneError):
        Rclone(flags=("--no-such-flag",)).lsjson(str(store))


def test_missing_binary_says_how_to_install() -> None:
    with pytest.raises(DjangoRcloneError, match=r"django-rclone\[rclone\]"):
        find_binary("rclone-not-installed-anywhere")


def test_small_file_reads_are_bounded(tmp_path: Path) -> None:
    """A manifest or marker is read with a cap: a planted huge file, or a folder of files under the
    file's name (``rclone cat`` reads a folder whole), is refused, not read into memory."""
    rc = Rclone()
    huge = tmp_path / "huge.manifest.json"
    huge.write_bytes(b" " * (SMALL_FILE_LIMIT + 1))
    with pytest.raises(FileTooLarge, match="holds more than"):
        rc.cat_bytes(str(huge))
    exact = tmp_path / "exact.json"
    exact.write_bytes(b"x" * 1000)
    assert rc.cat_bytes(str(exact), limit=1000) == b"x" * 1000
    folder = tmp_path / "folder.manifest.json"
    folder.mkdir()
    for index in range(3):  # each file under the cap, together over it
        (folder / f"part{index}").write_bytes(b"y" * 600)
    with pytest.raises(FileTooLarge):
        rc.cat_bytes(str(folder), limit=1000)


def test_a_small_read_that_is_cancelled_stops_its_rclone(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    for index in range(4):
        (folder / f"part{index}").write_bytes(b"z" * 4_000_000)
    read = Rclone().start_cat_bytes(str(folder))
    read.cancel()
    assert read._proc.returncode is not None  # the process is gone, not left reading
    read.cancel()  # a second cancel is harmless
