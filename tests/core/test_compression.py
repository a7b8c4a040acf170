"""The pipeline's compression stage: settings, names, manifests, decoding on restore and refusals.

Real sqlite3 and real rclone on a local-folder remote (and on crypt/compress remotes wrapped around
one); stand-in tools only where a fault is injected.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

import django_rclone
from django_rclone import codecs
from django_rclone.codecs import zstd
from django_rclone.conf import load_settings
from tests.core.conftest import pids_alive, remote_files, settings_for, start, wait_for
from tests.testapp.models import Author

pytestmark = pytest.mark.usefixtures("no_stray_processes")

Settings = Callable[..., None]
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def objects(remote: Path) -> list[Path]:
    """Backup data objects (not manifests) on the remote, by name."""
    return sorted(p for p in (remote / "db").iterdir() if not p.name.endswith(".manifest.json"))


def manifest_of(obj: Path) -> dict[str, Any]:
    return dict(json.loads(Path(f"{obj}.manifest.json").read_text()))


def names() -> list[str]:
    return sorted(Author.objects.values_list("name", flat=True))


def restore(*args: str) -> None:
    call_command("dbrestore", "--noinput", *args, verbosity=0)


# -- settings -------------------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"COMPRESSION": "lz4"}, "DJANGO_RCLONE['COMPRESSION'] is 'lz4'"),
    ({"COMPRESSION": "zstd:0"}, "the zstd level must be 1-19"),
    ({"COMPRESSION": "zstd:22"}, "the zstd level must be 1-19"),
    ({"COMPRESSION": "gzip:10"}, "the gzip level must be 1-9"),
    ({"COMPRESSION": "none:3"}, "'none' takes no level"),
    ({"COMPRESSION": 3}, "DJANGO_RCLONE['COMPRESSION'] is 3"),
    ({"COMPRESSION_THREADS": -1}, "DJANGO_RCLONE['COMPRESSION_THREADS'] is -1"),
    ({"COMPRESSION_THREADS": "all"}, "DJANGO_RCLONE['COMPRESSION_THREADS'] is 'all'"),
    ({"COMPRESSION_BY_DATABASE": ["default"]}, "DJANGO_RCLONE['COMPRESSION_BY_DATABASE'] is ['default']"),
    ({"COMPRESSION_BY_DATABASE": {"nope": "zstd"}}, "names 'nope', which is not in DATABASES"),
    ({"COMPRESSION_BY_DATABASE": {"default": "brotli"}}, "['COMPRESSION_BY_DATABASE']['default'] is 'brotli'"),
]


@pytest.mark.parametrize(("keys", "message"), BAD_SETTINGS, ids=[str(k) for k, _ in BAD_SETTINGS])
def test_bad_compression_settings_are_one_clear_line(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        load_settings({"REMOTE": "/tmp/remote", **keys})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_settings_defaults_and_overrides() -> None:
    conf = load_settings({"REMOTE": "/tmp/remote"})
    assert conf.compression_for("default") == codecs.Compression(
        "zstd", codecs.DEFAULT_LEVELS["zstd"], codecs.all_cores()
    )
    conf = load_settings(
        {
            "REMOTE": "/tmp/remote",
            "COMPRESSION": "ZSTD:9",
            "COMPRESSION_THREADS": 2,
            "COMPRESSION_BY_DATABASE": {"other": "none", "postgres": "gzip"},
        }
    )
    assert conf.compression_for("default") == codecs.Compression("zstd", 9, 2)
    assert conf.compression_for("other") == codecs.NO_COMPRESSION
    assert conf.compression_for("postgres") == codecs.Compression("gzip", 6, 0)


# -- backups are compressed by default ----------------------------------------------------------


def test_default_backup_is_zstd_with_a_zst_name_and_a_manifest_that_says_so(sqlite_db: str, remote: Path) -> None:
    Author.objects.create(name="Ada")
    result = django_rclone.backup("default")
    [obj] = objects(remote)
    assert obj.name == result.name
    assert obj.name.endswith(".sqlite3.zst")
    stored = obj.read_bytes()
    assert stored[:4] == ZSTD_MAGIC
    dump = zstd.decompress(stored)
    assert b"CREATE TABLE" in dump
    assert b"Ada" in dump
    manifest = manifest_of(obj)
    assert manifest["compression"] == "zstd"
    assert manifest["compression_level"] == codecs.DEFAULT_LEVELS["zstd"]
    assert manifest["uncompressed_size"] == len(dump) == result.uncompressed_size
    assert manifest["size"] == len(stored) == result.size
    assert manifest["extension"] == "sqlite3"


@pytest.mark.parametrize(
    ("setting", "suffix", "decode"),
    [
        ("zstd:9", ".sqlite3.zst", zstd.decompress),
        ("gzip", ".sqlite3.gz", gzip.decompress),
        ("gzip:1", ".sqlite3.gz", gzip.decompress),
        ("none", ".sqlite3", bytes),
    ],
)
def test_each_codec_round_trips_and_names_its_extension(
    sqlite_db: str, remote: Path, rclone_settings: Settings, setting: str, suffix: str, decode: Callable[[bytes], bytes]
) -> None:
    rclone_settings(COMPRESSION_BY_DATABASE={"default": setting}, COMPRESSION="zstd")
    Author.objects.create(name="Ada")
    call_command("dbbackup", verbosity=0)
    [obj] = objects(remote)
    assert obj.name.endswith(suffix)
    assert b"Ada" in decode(obj.read_bytes())
    Author.objects.create(name="Bob")
    restore()
    assert names() == ["Ada"]


def test_old_uncompressed_backups_still_list_and_restore_after_turning_compression_on(
    sqlite_db: str, remote: Path, rclone_settings: Settings
) -> None:
    rclone_settings(COMPRESSION="none")
    Author.objects.create(name="Ada")
    call_command("dbbackup", verbosity=0)
    [old] = objects(remote)
    manifest = manifest_of(old)
    for key in ("compression", "compression_level", "uncompressed_size"):  # as written before the stage existed
        manifest.pop(key)
    Path(f"{old}.manifest.json").write_text(json.dumps(manifest))
    rclone_settings()  # the default: zstd
    Author.objects.create(name="Bob")
    time.sleep(1.1)  # the next name's timestamp
    call_command("dbbackup", verbosity=0)
    rows = {row["name"]: row for row in json.loads(_run("listbackups", "--json"))}
    assert rows[old.name]["compression"] == "none"
    assert rows[old.name]["compression_ratio"] is None
    [new] = [name for name in rows if name != old.name]
    assert rows[new]["compression"] == "zstd"
    assert rows[new]["compression_ratio"] > 1
    Author.objects.create(name="Carol")
    restore("--input-path", old.name)
    assert names() == ["Ada"]
    restore()
    assert names() == ["Ada", "Bob"]


def _run(*args: str) -> str:
    import io

    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_output_filename_gets_the_codec_extension_and_a_contradicting_one_is_refused(
    sqlite_db: str, remote: Path
) -> None:
    result = django_rclone.backup("default", output_filename="before-upgrade.sqlite3")
    assert result.name == "before-upgrade.sqlite3.zst"
    assert (remote / "db" / "before-upgrade.sqlite3.zst").exists()
    again = django_rclone.backup("default", output_filename="named.sqlite3.zst")
    assert again.name == "named.sqlite3.zst"
    with pytest.raises(CommandError, match="ends with the gzip extension but this backup is compressed with zstd"):
        call_command("dbbackup", "-o", "wrong.sqlite3.gz", verbosity=0)
    restore("--input-path", "before-upgrade.sqlite3.zst")


# -- backups made elsewhere -----------------------------------------------------------------------


def test_a_gzip_dump_without_manifest_restores_by_its_extension(sqlite_db: str, remote: Path) -> None:
    """A django-dbbackup style ``.gz`` (gzip of the SQL dump, no manifest) copied onto the remote."""
    Author.objects.create(name="Ada")
    from django.db import connections

    dump = subprocess.run(
        ["sqlite3", connections["default"].settings_dict["NAME"], ".dump"], capture_output=True, check=True
    ).stdout
    (remote / "db").mkdir()
    (remote / "db" / "default-2024-01-01-120000.sqlite3.gz").write_bytes(gzip.compress(dump))
    Author.objects.create(name="Bob")
    restore("--input-path", "default-2024-01-01-120000.sqlite3.gz")
    assert names() == ["Ada"]


def test_a_zstd_backup_restores_by_hand_with_the_zstd_cli(sqlite_db: str, remote: Path, tmp_path: Path) -> None:
    """docs/restore-by-hand: ``rclone cat ... | zstd -d | sqlite3 NEW.db`` gives the same rows."""
    Author.objects.create(name="Ada")
    result = django_rclone.backup("default")
    target = tmp_path / "by-hand.sqlite3"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"rclone cat {result.path} | zstd -d | sqlite3 {target}"],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = subprocess.run(
        ["sqlite3", str(target), "SELECT name FROM testapp_author"], capture_output=True, check=True
    ).stdout
    assert rows.split() == [b"Ada"]


@pytest.mark.parametrize("manifest", ["current", "pre-stage", "none"])
def test_a_gz_that_is_the_connectors_own_extension_is_not_decoded(
    sqlite_db: str, remote: Path, rclone_settings: Settings, manifest: str
) -> None:
    """``EXTENSION: "sqlite3.gz"`` (a tool that gzips by itself, or a name kept from django-dbbackup)
    with the stage off: the object is plain, and restores as it is, with or without a manifest."""
    rclone_settings(CONNECTORS={"default": {"EXTENSION": "sqlite3.gz"}}, COMPRESSION="none")
    Author.objects.create(name="Ada")
    call_command("dbbackup", verbosity=0)
    [obj] = objects(remote)
    assert obj.name.endswith(".sqlite3.gz")
    assert b"Ada" in obj.read_bytes()  # not gzip: the extension is only a name here
    data = manifest_of(obj)
    if manifest == "pre-stage":
        for key in ("compression", "compression_level", "uncompressed_size"):
            data.pop(key)
        Path(f"{obj}.manifest.json").write_text(json.dumps(data))
    elif manifest == "none":
        Path(f"{obj}.manifest.json").unlink()
    Author.objects.create(name="Bob")
    restore("--input-path", obj.name)
    assert names() == ["Ada"]


# -- refusals: damaged data, codec mismatch ------------------------------------------------------


def _backup_then_change(remote: Path) -> Path:
    for i in range(300):
        Author.objects.create(name=f"Author {i}", bio=os.urandom(200).hex())
    call_command("dbbackup", verbosity=0)
    Author.objects.filter(name__startswith="Author").delete()
    Author.objects.create(name="current")
    [obj] = objects(remote)
    return obj


def test_truncated_zstd_backup_without_manifest_is_refused_before_the_restore_tool_commits(
    sqlite_db: str, remote: Path
) -> None:
    obj = _backup_then_change(remote)
    Path(f"{obj}.manifest.json").unlink()
    data = obj.read_bytes()
    obj.write_bytes(data[: len(data) - 100])  # whole blocks decode, the frame never ends
    with pytest.raises(CommandError, match=r"not valid zstd data \(the stream ends inside a frame"):
        restore("--input-path", obj.name)
    assert names() == ["current"]


@pytest.mark.parametrize("skip_verify", [False, True], ids=["verified", "skip-verify"])
def test_corrupted_zstd_backup_is_refused_before_the_restore_tool_commits(
    sqlite_db: str, remote: Path, skip_verify: bool
) -> None:
    obj = _backup_then_change(remote)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x55
    obj.write_bytes(bytes(data))
    with pytest.raises(CommandError, match=r"not valid zstd data|does not match its manifest"):
        restore("--input-path", obj.name, *(["--skip-verify"] if skip_verify else []))
    assert names() == ["current"]


def test_decode_error_stops_the_consumer_before_end_of_input(
    standin: Callable[..., Path], remote: Path, rclone_settings: Settings
) -> None:
    """The stand-in restore tool commits (writes its output) only at end of input: it must never get it."""
    out = standin(dump=["--size", "3000000"], COMPRESSION="zstd:3", COMPRESSION_THREADS=2)
    call_command("dbbackup", verbosity=0)
    [obj] = objects(remote)
    data = bytearray(obj.read_bytes())
    data[len(data) // 3] ^= 0xFF
    obj.write_bytes(bytes(data))
    Path(f"{obj}.manifest.json").unlink()
    with pytest.raises(CommandError, match="not valid zstd data"):
        restore("--input-path", obj.name)
    assert not out.exists()


def _move_with_manifest(obj: Path, target: Path) -> None:
    """Rename a backup and its manifest, and the manifest's ``name`` with them (as someone renaming
    both by hand would), so the codec check, not the ownership check, is what a restore meets."""
    obj.rename(target)
    manifest = Path(f"{obj}.manifest.json")
    data = json.loads(manifest.read_text())
    data["name"] = target.name
    Path(f"{target}.manifest.json").write_text(json.dumps(data))
    manifest.unlink()


def test_codec_mismatch_between_manifest_and_extension_is_refused(sqlite_db: str, remote: Path) -> None:
    obj = _backup_then_change(remote)
    renamed = obj.with_name(obj.name.removesuffix(".zst") + ".gz")
    _move_with_manifest(obj, renamed)
    with pytest.raises(CommandError, match=r"is named '\.gz' but its manifest says it is compressed with 'zstd'"):
        restore("--input-path", renamed.name)
    stripped = obj.with_name(obj.name.removesuffix(".zst"))
    _move_with_manifest(renamed, stripped)
    with pytest.raises(CommandError, match="named without a codec extension but its manifest says"):
        restore("--input-path", stripped.name)
    with pytest.raises(CommandError, match="failed verification"):
        call_command("verifybackups", "-i", stripped.name, verbosity=0)
    assert names() == ["current"]


def test_unknown_codec_in_manifest_is_refused(sqlite_db: str, remote: Path) -> None:
    obj = _backup_then_change(remote)
    manifest = manifest_of(obj)
    manifest["compression"] = "brotli"
    Path(f"{obj}.manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="names the codec 'brotli'"):
        restore()
    assert names() == ["current"]


# -- verification ---------------------------------------------------------------------------------


def test_verifybackups_decode_checks_the_uncompressed_size(sqlite_db: str, remote: Path) -> None:
    obj = _backup_then_change(remote)
    out = _run("verifybackups", "--decode")
    assert "OK" in out
    assert "decoded" in out
    manifest = manifest_of(obj)
    manifest["uncompressed_size"] += 1  # stored bytes still match size and sha256
    Path(f"{obj}.manifest.json").write_text(json.dumps(manifest))
    assert "OK" in _run("verifybackups")  # without --decode only the stored bytes are checked
    with pytest.raises(CommandError, match="failed verification"):
        call_command("verifybackups", "--decode", verbosity=0)


# -- interruption and threads ---------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_compressing_backup_leaves_nothing_listable_and_no_process(
    tmp_path: Path, sig: signal.Signals
) -> None:
    remote, pidfile = tmp_path / "remote", tmp_path / "pids"
    conf = settings_for(
        remote, ["--size", "50000000", "--hang-after", "20000000", "--pidfile", str(pidfile)], [], "zstd:3"
    )
    conf["COMPRESSION_THREADS"] = 2
    proc = start(["dbbackup"], conf)
    wait_for(lambda: pidfile.exists() and any(remote.rglob("*")) if remote.exists() else False, timeout=60)
    time.sleep(0.5)  # compressing and uploading
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert err.strip().splitlines() == [
        f"CommandError: interrupted by {sig.name}; child processes stopped, nothing was published"
    ]
    wait_for(lambda: not pids_alive(pidfile), timeout=10)
    assert [f for f in remote_files(remote) if f.startswith("db/")] == []
    listed = start(["listbackups", "--json"], conf)
    out, err = listed.communicate(timeout=60)
    assert listed.returncode == 0, err
    assert json.loads(out) == []


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_a_failed_compressing_backup_leaves_no_compressor_thread(standin: Callable[..., Path], remote: Path) -> None:
    standin(dump=["--size", "40000000", "--fail-after", "30000000"], COMPRESSION="zstd:3", COMPRESSION_THREADS=2)
    before = _threads()
    with pytest.raises(CommandError, match="simulated failure") as caught:
        call_command("dbbackup", verbosity=0)
    assert caught.traceback  # the traceback (and its frames) is still alive here
    deadline = time.monotonic() + 5
    while _threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _threads() <= before, [t.name for t in threading.enumerate()]
    assert not (remote / "db").exists() or objects(remote) == []


# -- rclone wrappers on top -----------------------------------------------------------------------


@pytest.mark.parametrize("wrapper", ["crypt", "compress"])
def test_zstd_backup_through_a_crypt_or_compress_remote(
    sqlite_db: str, rclone_settings: Settings, tmp_path: Path, wrapper: str
) -> None:
    base = tmp_path / "base"
    base.mkdir()
    env: dict[str, str] = {}
    if wrapper == "crypt":
        obscured = subprocess.run(["rclone", "obscure", "correct horse"], capture_output=True, text=True, check=True)
        env = {"RCLONE_CRYPT_PASSWORD": obscured.stdout.strip()}
    rclone_settings(REMOTE=f":{wrapper},remote='{base}':site", RCLONE_ENV=env)
    Author.objects.create(name="Ada")
    result = django_rclone.backup("default")
    assert result.name.endswith(".sqlite3.zst")
    stored = [p for p in base.rglob("*") if p.is_file()]
    if wrapper == "crypt":
        assert len(stored) == 2  # the data object and its manifest, under encrypted names
        assert all(b"Ada" not in p.read_bytes() and ZSTD_MAGIC not in p.read_bytes()[:64] for p in stored)
    Author.objects.create(name="Bob")
    restore()
    assert names() == ["Ada"]
    assert "OK" in _run("verifybackups", "--decode")


# -- constant memory ------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
def test_decoder_output_comes_in_bounded_pieces_however_well_the_data_compressed(codec: str) -> None:
    """A small object that expands a thousandfold must not be decoded into memory in one piece."""
    plain = bytes(64 << 20)
    stored = zstd.compress(plain) if codec == "zstd" else gzip.compress(plain)
    assert len(stored) < 200_000
    decoder = codecs.parse(codec).decoder()
    total = biggest = 0
    for piece in decoder.feed(stored):
        total += len(piece)
        biggest = max(biggest, len(piece))
    decoder.finish()
    assert total == len(plain) == decoder.size
    assert biggest <= codecs.OUTPUT_LIMIT
