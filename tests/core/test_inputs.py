"""Hostile and careless input (issue 15): secrets never leak, overlapping paths are refused, and
every bad input gets one clear line instead of a traceback.

Everything runs real rclone against local-folder (and crypt) remotes; the secrets tests watch
``/proc/*/cmdline`` while each command runs, as the database password tests do.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_rclone.checks import TAG
from django_rclone.conf import get_settings
from django_rclone.locks import lock_path
from tests.core.conftest import REAL_RCLONE, remote_files
from tests.processes import ProcessWatch

pytestmark = pytest.mark.usefixtures("no_stray_processes")


def obscure(secret: str) -> str:
    return subprocess.run([REAL_RCLONE, "obscure", secret], capture_output=True, text=True, check=True).stdout.strip()


def run_checks() -> list[checks.CheckMessage]:
    """Our own system checks. Django's model checks are left out: since Django 6.1,
    ``run_checks()`` without ``databases`` checks fields against every alias, which connects to
    servers these tests never start."""
    return checks.run_checks(tags=[TAG])


def run(*args: str, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def one_line_error(*args: str, **options: Any) -> str:
    """The CommandError message of a command that must fail with one line."""
    with pytest.raises(CommandError) as caught:
        run(*args, **options)
    message = str(caught.value)
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message
    return message


# -- secrets ------------------------------------------------------------------------------------------


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "media"
    (root / "uploads").mkdir(parents=True)
    (root / "uploads" / "a.txt").write_text("an upload")
    with override_settings(MEDIA_ROOT=str(root)):
        yield root


def test_secrets_in_remote_and_flags_never_reach_a_command_line(sqlite_db: str, tmp_path: Path, media: Path) -> None:
    store = tmp_path / "crypt-store"
    store.mkdir()
    password, salt = obscure("crypt-pass-Zk3q"), obscure("crypt-salt-Wm7r")
    header = "X-Token: hdr-secret-Qv9p"
    secrets = [password, salt, "hdr-secret-Qv9p"]
    settings = {
        "REMOTE": f":crypt,remote={store},password={password}:",
        "RCLONE_FLAGS": ["--crypt-password2", salt, "--header", header, "--transfers", "2"],
    }
    outputs: list[str] = []
    with override_settings(DJANGO_RCLONE=settings), ProcessWatch() as watch:
        for command in (
            ("dbbackup",),
            ("listbackups",),
            ("listbackups", "--json"),
            ("verifybackups",),
            ("dbrestore", "--noinput"),
            ("mediabackup",),
            ("mediarestore", "--noinput"),
            ("cleanbackups", "--keep", "1"),
            ("rcloneplugins", "--json"),
        ):
            outputs += run(*command, verbosity=2)
    rclones = watch.runs_of("rclone")
    assert len(rclones) >= 8, watch.tools()
    for secret in secrets:
        assert watch.leaks(secret) == []
        assert not any(secret in text for text in outputs)
    # The remote really is the crypt remote with both secrets: names and bytes are encrypted.
    stored = remote_files(store)
    assert stored
    assert not any("default" in name or name.endswith(".txt") for name in stored)
    with override_settings(DJANGO_RCLONE={"REMOTE": f":crypt,remote={store},password={password},password2={salt}:"}):
        names = run("listbackups", "--json")[0]
    assert json.loads(names)[0]["database"] == "default"


def test_a_failing_rclone_call_never_prints_the_secret(tmp_path: Path) -> None:
    remote = ':http,url="http://someone:url-secret-Hq2x@127.0.0.1:9/":'
    with override_settings(DJANGO_RCLONE={"REMOTE": remote, "RCLONE_FLAGS": ["--b2-key", "flag-secret-Rz5w"]}):
        message = one_line_error("listbackups")
        assert "url-secret-Hq2x" not in message
        assert "flag-secret-Rz5w" not in message
        assert "url-secret-Hq2x" not in get_settings().remote_display
        with ProcessWatch() as watch:
            one_line_error("listbackups")
        assert watch.runs_of("rclone")
        assert watch.leaks("url-secret-Hq2x") == []


def test_settings_errors_mask_secret_values(tmp_path: Path) -> None:
    settings = {"REMOTE": ":b2,account=acc,key=key-secret-Jd4m:bucket", "RCLONE_FLAGS": ["--b2-key", "flag-Tn8c", 3]}
    with override_settings(DJANGO_RCLONE=settings):
        message = one_line_error("listbackups")
        checks = " ".join(m.msg for m in run_checks())
    assert "RCLONE_FLAGS" in message
    assert "flag-Tn8c" not in message + checks
    assert "key-secret-Jd4m" not in message + checks


@pytest.mark.parametrize(
    "flags",
    [["--b2-key", "-dash-secret-Pw3"], ["dash-secret-Pw3"], ["--header", "A: dash-secret-Pw3", "--header", "B: c"]],
)
def test_flags_that_cannot_be_hidden_safely_are_refused_without_echoing(remote: Path, flags: list[str]) -> None:
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "RCLONE_FLAGS": flags}):
        message = one_line_error("listbackups")
    assert "RCLONE_FLAGS" in message
    assert "dash-secret-Pw3" not in message


def test_a_url_with_a_password_in_any_flag_moves_to_the_environment(remote: Path) -> None:
    flags = ["--webdav-url", "https://u:url-flag-Kx8@h/", "--transfers", "4"]
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "RCLONE_FLAGS": flags}):
        conf = get_settings()
    assert conf.rclone_flags == ("--transfers", "4")
    assert conf.rclone_env["RCLONE_WEBDAV_URL"] == "https://u:url-flag-Kx8@h/"


def test_secrets_rclone_itself_logs_are_scrubbed_from_errors(remote: Path) -> None:
    """With -vv rclone logs the values it reads from the environment; a failure must not repeat them."""
    settings = {
        "REMOTE": ":http,url='http://127.0.0.1:9/',headers='X-Api-Key,conn-secret-Lm4':",
        "RCLONE_FLAGS": ["-vv", "--header", "X-Token: hdr-secret-Vb6"],
    }
    with override_settings(DJANGO_RCLONE=settings):
        message = one_line_error("dbrestore", "--noinput", "-i", "default-2024-01-01-000000.sqlite3")
    assert "rclone" in message
    assert "hdr-secret-Vb6" not in message
    assert "conn-secret-Lm4" not in message


def test_a_failing_stream_never_carries_the_secret_in_its_error(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None], tmp_path: Path
) -> None:
    """The pipeline's rclone stages scrub rclone's stderr too (the API's exceptions, not only commands)."""
    from django_rclone.exceptions import PipelineError
    from django_rclone.operations.restore import restore

    flags = ["-vv", "--header", "X-Token: pipe-secret-Qz1"]
    rclone_settings(RCLONE_FLAGS=flags)
    run("dbbackup", verbosity=0)
    # A stand-in that streams a missing object instead of the backup: the real rclone fails mid-pipeline.
    wrapper = tmp_path / "rclone-gone"
    wrapper.write_text(
        f"#!{sys.executable}\nimport os, sys\nargv = sys.argv[1:]\n"
        "if 'cat' in argv and not argv[-1].endswith('.manifest.json'):\n    argv[-1] += '-gone'\n"
        f"os.execv({REAL_RCLONE!r}, [{REAL_RCLONE!r}, *argv])\n"
    )
    wrapper.chmod(0o755)
    rclone_settings(RCLONE_FLAGS=flags, RCLONE_BINARY=str(wrapper))
    with pytest.raises(PipelineError) as caught:
        restore("default", verify=False)
    assert "RCLONE_HEADER" in str(caught.value)  # rclone -vv logged where the header came from...
    assert "pipe-secret-Qz1" not in str(caught.value)  # ...but not its value


def write_config(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_rclone_config_file_readable_by_others_or_unencrypted_is_warned(remote: Path, tmp_path: Path) -> None:
    plain = write_config(tmp_path / "plain.conf", "[store]\ntype = local\n", 0o644)
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "RCLONE_CONFIG": str(plain)}):
        found = {m.id: m for m in run_checks() if m.id in ("django_rclone.W009", "django_rclone.W010")}
    assert set(found) == {"django_rclone.W009", "django_rclone.W010"}
    assert "chmod 600" in (found["django_rclone.W009"].hint or "")
    assert "rclone config encryption set" in (found["django_rclone.W010"].hint or "")
    locked = write_config(
        tmp_path / "locked.conf", "# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nabc\n", 0o600
    )
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "RCLONE_CONFIG": str(locked)}):
        assert not [m for m in run_checks() if m.id in ("django_rclone.W009", "django_rclone.W010")]


def test_rclone_config_naming_a_missing_file(remote: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope" / "rclone.conf")
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "RCLONE_CONFIG": missing}):
        assert [m.id for m in run_checks() if m.id == "django_rclone.W011"] == ["django_rclone.W011"]
        assert "RCLONE_CONFIG" in one_line_error("listbackups")


# -- paths that destroy backups -------------------------------------------------------------------------


def spellings(remote: Path, tmp_path: Path) -> list[str]:
    link = tmp_path / "remote-link"
    link.symlink_to(remote)
    return [str(remote), f"{remote}/", f":local:{remote}", f":local,nounc=true:{link}/", str(link)]


@pytest.mark.parametrize("spelling", range(5))
def test_media_root_on_the_database_backup_folder_is_refused(
    sqlite_db: str, remote: Path, tmp_path: Path, spelling: int
) -> None:
    run("dbbackup", verbosity=0)
    before = remote_files(remote)
    remote_spelling = spellings(remote, tmp_path)[spelling]
    with override_settings(DJANGO_RCLONE={"REMOTE": remote_spelling}, MEDIA_ROOT=str(remote / "db") + "/"):
        assert "django_rclone.E005" in [m.id for m in run_checks()]
        for command in (("mediarestore", "--noinput"), ("mediabackup",), ("dbbackup",)):
            assert "MEDIA_ROOT" in one_line_error(*command, verbosity=0)
    assert remote_files(remote) == before


@pytest.mark.parametrize("defined_in", ["rclone.conf", "RCLONE_ENV alias"])
def test_named_local_remotes_are_resolved_too(remote: Path, tmp_path: Path, defined_in: str) -> None:
    config = write_config(tmp_path / "rclone.conf", "[store]\ntype = local\n", 0o600)
    if defined_in == "rclone.conf":
        settings = {"REMOTE": f"store:{remote}", "RCLONE_CONFIG": str(config)}
    else:
        env = {"RCLONE_CONFIG_VAULT_TYPE": "alias", "RCLONE_CONFIG_VAULT_REMOTE": str(remote.parent)}
        settings = {"REMOTE": f"vault:{remote.name}", "RCLONE_ENV": env}
    with override_settings(DJANGO_RCLONE=settings, MEDIA_ROOT=str(remote / "db")):
        assert "django_rclone.E005" in [m.id for m in run_checks()]
        assert "MEDIA_ROOT" in one_line_error("mediarestore", "--noinput", verbosity=0)


@pytest.mark.parametrize("where", ["remote-inside-media", "media-inside-media-folder"])
def test_other_overlaps_are_refused(remote: Path, tmp_path: Path, where: str) -> None:
    root = tmp_path / "uploads"
    (root / "backups").mkdir(parents=True)
    (root / "backups" / "keep.txt").write_text("x")
    if where == "remote-inside-media":
        settings = {"REMOTE": str(root / "backups")}
        media_root = root
    else:
        settings = {"REMOTE": str(remote)}
        media_root = remote / "media" / "sub"
        media_root.mkdir(parents=True)
        (media_root / "f.txt").write_text("x")
    with override_settings(DJANGO_RCLONE=settings, MEDIA_ROOT=str(media_root)):
        assert "django_rclone.E005" in [m.id for m in run_checks()]
        assert "MEDIA_ROOT" in one_line_error("mediabackup", verbosity=0)


def test_separate_folders_pass(remote: Path, media: Path) -> None:
    assert "django_rclone.E005" not in [m.id for m in run_checks()]
    run("mediabackup", verbosity=0)
    assert (remote / "media" / "uploads" / "a.txt").read_text() == "an upload"


@pytest.mark.parametrize("suffix", [".manifest.json", ".pending"])
def test_templates_that_render_core_object_names_are_refused(remote: Path, suffix: str) -> None:
    template = "{database}-{datetime}.{ext}" + suffix
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "DB_FILENAME_TEMPLATE": template}):
        assert "django_rclone.E003" in [m.id for m in run_checks()]
        assert "DB_FILENAME_TEMPLATE" in one_line_error("dbbackup")
    assert remote_files(remote) == []


@pytest.mark.parametrize("name", ["", " ", "\t"])
def test_empty_restore_name_is_an_error(sqlite_db: str, remote: Path, name: str) -> None:
    run("dbbackup", verbosity=0)
    assert "empty" in one_line_error("dbrestore", "--noinput", "-i", name)


def test_symlinks_in_media_root_are_named_and_can_be_followed(
    remote: Path, media: Path, tmp_path: Path, rclone_settings: Callable[..., None]
) -> None:
    volume = tmp_path / "other-volume"
    volume.mkdir()
    (volume / "big.bin").write_text("on another volume")
    (media / "archive").symlink_to(volume)
    (media / "uploads" / "link.txt").symlink_to(media / "uploads" / "a.txt")
    _out, err = run("mediabackup", verbosity=3)
    assert "archive" in err
    assert "uploads/link.txt" in err
    assert "MEDIA_FOLLOW_SYMLINKS" in err
    assert not (remote / "media" / "archive").exists()
    rclone_settings(MEDIA_FOLLOW_SYMLINKS=True)
    _out, err = run("mediabackup", verbosity=1)
    assert "symlink" not in err
    assert (remote / "media" / "archive" / "big.bin").read_text() == "on another volume"


# -- one clear line ------------------------------------------------------------------------------------


@pytest.mark.parametrize("age", [float("nan"), float("inf"), 1e12])
def test_retention_max_age_that_is_not_a_finite_number(sqlite_db: str, remote: Path, age: float) -> None:
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "DB_RETENTION": {"MAX_AGE_DAYS": age}}):
        assert "django_rclone.E003" in [m.id for m in run_checks()]
        assert "MAX_AGE_DAYS" in one_line_error("cleanbackups")
        assert "MAX_AGE_DAYS" in one_line_error("dbbackup", "--clean")
    assert remote_files(remote) == []


def test_rclone_binary_that_is_missing_not_executable_or_not_rclone(
    sqlite_db: str, remote: Path, tmp_path: Path
) -> None:
    plain = tmp_path / "rclone-file"
    plain.write_text("#!/bin/sh\n")
    for binary, words in (
        (str(tmp_path / "no" / "rclone"), "does not exist"),
        (str(plain), "not executable"),
        ("/bin/true", "not rclone"),
    ):
        with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "RCLONE_BINARY": binary}):
            for command in (("dbbackup",), ("listbackups",), ("dbrestore", "--noinput")):
                message = one_line_error(*command)
                assert "RCLONE_BINARY" in message, message
            assert words in one_line_error("dbbackup")
    assert remote_files(remote) == []


def test_manifest_with_a_null_checksum(sqlite_db: str, remote: Path) -> None:
    run("dbbackup", verbosity=0)
    manifest = next((remote / "db").glob("*.manifest.json"))
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "sha256": None}))
    message = one_line_error("verifybackups")
    assert "failed verification" in message
    _out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("verifybackups", stdout=_out, stderr=err)
    assert "sha256" in err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert "manifest" in one_line_error("dbrestore", "--noinput")


def test_lock_file_that_cannot_be_opened(sqlite_db: str, remote: Path) -> None:
    path = lock_path(get_settings().remote, "default")
    path.mkdir()
    try:
        assert str(path) in one_line_error("dbbackup")
    finally:
        path.rmdir()
    assert remote_files(remote) == []


@pytest.mark.parametrize(
    "command", [("dbrestore", "--noinput"), ("listbackups",), ("verifybackups",), ("cleanbackups",)]
)
def test_unknown_alias_names_the_known_ones(remote: Path, command: tuple[str, ...]) -> None:
    message = one_line_error(*command, "-d", "nosuch")
    assert "'nosuch'" in message
    assert "default" in message
    assert "other" in message


@pytest.mark.parametrize("hours", ["nan", "-1", "0", "inf", "soon"])
def test_verify_max_age_must_be_a_positive_number(remote: Path, hours: str) -> None:
    with pytest.raises(CommandError, match="max-age"):
        call_command("verifybackups", "--max-age", hours)


def test_per_alias_option_typo_names_the_closest_key(sqlite_db: str, rclone_settings: Callable[..., None]) -> None:
    rclone_settings(CONNECTORS={"default": {"CONECTOR": "django_rclone.db.django.DjangoDumpDataConnector"}})
    message = one_line_error("dbbackup")
    assert "'CONECTOR'" in message
    assert "'CONNECTOR'" in message
    rclone_settings(CONNECTORS={"default": {"dump_cmd": "sqlite3"}})
    assert "'DUMP_CMD'" in one_line_error("dbbackup")


def test_connector_mapping_keys_must_be_strings(remote: Path) -> None:
    settings = {"REMOTE": str(remote), "CONNECTOR_MAPPING": {1: "x.Y"}}
    with override_settings(DJANGO_RCLONE=settings):
        assert "CONNECTOR_MAPPING" in one_line_error("listbackups")


@pytest.mark.parametrize("flags", [["--dry-run"], ["-n"], ["-vn"], ["--interactive"], ["-i"], ["--dry-run=true"]])
def test_flags_that_make_rclone_write_nothing_are_refused(sqlite_db: str, remote: Path, flags: list[str]) -> None:
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "RCLONE_FLAGS": flags}):
        assert "django_rclone.E003" in [m.id for m in run_checks()]
        assert "write nothing" in one_line_error("dbbackup")
    assert remote_files(remote) == []


@pytest.mark.parametrize("where", ["process", "RCLONE_ENV"])
def test_dry_run_from_the_environment_is_refused(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where == "process":
        monkeypatch.setenv("RCLONE_DRY_RUN", "true")
    else:
        rclone_settings(RCLONE_ENV={"RCLONE_DRY_RUN": "true"})
    assert "RCLONE_DRY_RUN" in one_line_error("dbbackup")
    assert remote_files(remote) == []


# -- checks must not block unrelated commands -------------------------------------------------------------


def test_one_alias_with_a_bad_option_blocks_only_that_alias(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None]
) -> None:
    rclone_settings(CONNECTORS={"other": {"EXCLUDES": ["x"], "CONNECTOR": "django_rclone_sqlite.SqliteConnector"}})
    assert [m.id for m in run_checks() if m.is_serious()] == []
    # No SystemCheckError: migrate and the site's other commands keep working. (Django 6.1 checks
    # fields against every alias unless told which: only this one has a server here.)
    run("check", "--database", "default")
    run("migrate", "--database", "default", verbosity=0)
    run("dbbackup", verbosity=0)  # another alias backs up
    message = one_line_error("dbbackup", "-d", "other")
    assert "'other'" in message
    assert "EXCLUDE" in message


def test_one_alias_with_a_bad_retention_policy_blocks_only_its_retention(sqlite_db: str, remote: Path) -> None:
    settings = {"REMOTE": str(remote), "DB_RETENTION": {"DAILY": 3, "DATABASES": {"other": {"DAYLY": 7}}}}
    with override_settings(DJANGO_RCLONE=settings):
        assert [m.id for m in run_checks() if m.id == "django_rclone.W012"] == ["django_rclone.W012"]
        assert [m.id for m in run_checks() if m.is_serious()] == []
        run("dbbackup", "--clean", verbosity=0)  # another alias: backed up and cleaned
        written = remote_files(remote)
        assert "DAYLY" in one_line_error("dbbackup", "-d", "other", "--clean")
        assert "DAYLY" in one_line_error("cleanbackups")
        assert remote_files(remote) == written  # nothing uploaded for 'other', nothing deleted


# -- fuzz: every key, bad values, in a real subprocess ----------------------------------------------------

NAN = float("nan")
FUZZ: dict[str, list[Any]] = {
    "REMOTE": ["", " ", "x", "\n", "ü:", "a:\nb", 5, None, [], ":s3,k='x:b", "-x:"],
    "RCLONE_BINARY": ["", 0, "ü", "/nonexistent/rclone", "/bin/true", "rclone\n"],
    "RCLONE_CONFIG": [0, "/nonexistent/rclone.conf", []],
    "RCLONE_FLAGS": ["--fast-list", [1], ["--dry-run"], ["-n"], {"a": 1}, ["--b2-key", "s", "--b2-key", "t"]],
    "RCLONE_ENV": [[], {"A": 1}, {1: "a"}, "x"],
    "DB_BACKUP_DIR": ["", "/", "..", "a/../b", "x:y", 3, "\n"],
    "DB_FILENAME_TEMPLATE": ["", "{database}", "{database}-{nope}", "{database}-{datetime}.{ext}.pending", 7, "{"],
    "DB_DATE_FORMAT": ["", "%Y", "%Y/%m", 1, "%Y-%m-%d %H:%M:%S"],
    "DB_CLEANUP_KEEP": [0, -1, NAN, 1.5, True, "3", 10**30],
    "MEDIA_BACKUP_DIR": ["", "db", "db/x", None],
    "MEDIA_FOLLOW_SYMLINKS": ["yes", 1, None],
    "RCLONE_DAEMON": ["yes", 1, None],
    "CONNECTORS": [[], "x", {1: "a"}, {"default": 5}, {"default": "no.such.Thing"}, {"default": {"CONECTOR": "x"}}],
    "CONNECTOR_MAPPING": [[], {1: "x"}, {"django.db.backends.sqlite3": "no.such.Thing"}],
    "DB_RETENTION": [
        5,
        [],
        {"MAX_AGE_DAYS": NAN},
        {"MAX_AGE_DAYS": -1},
        {"DAILY": -1},
        {"DATABASES": {"default": {"LAST": "x"}}},
    ],
    "STREAM_CHUNK_SIZE": [0, -5, "", "10", "1X", NAN, 1.5],
    "PING_URLS": [[], "x", {1: "u"}, {"backup": 5}, {"backup": "not a url\n"}, {"nosuch": "https://h/"}],
    "PING_TIMEOUT": [0, -1, NAN, float("inf"), "5", True],
    "SIGNING_KEY": ["", "short", 5, b"k" * 40, [], ["k" * 40, 1], {"k": "v"}, "\n" * 40, "k" * 40],
    "LOCK_TIMEOUT": [-1, NAN, float("inf"), "5", True, None],
    "PRE_RESTORE_KEEP_DAYS": [-1, NAN, "7", True, None, [7]],
    "COMPRESSION": ["", "zstd:99", "zstd:x", "brotli", 3, None, "zstd\n", "gzip:0"],
    "COMPRESSION_BY_DATABASE": [[], "zstd", {"nosuch": "zstd"}, {"default": "lzma"}, {"default": 5}],
    "COMPRESSION_THREADS": [-1, NAN, "2", True, 1.5],
    "COPIES": [
        "x:y",
        {"REMOTE": "x:y"},
        [None],
        [5],
        ["not a remote"],
        [{"KEEP": 1}],
        [{"REMOTE": "x:y", "DB_CLEANUP_KEEP": 0}],
        ["x:\n"],
    ],
    "GPG": ["gpg", [], {"HOMEDIR": "/x"}, {"HOME": ""}, {"BINARY": 3}, {"PASSPHRASE": "a\nb"}, {1: "x"}],
    "NO_SUCH_KEY": [1],
}
CASES = [(key, value) for key, values in FUZZ.items() for value in values]


def test_the_fuzz_covers_every_setting() -> None:
    from django_rclone.conf import DEFAULTS

    assert set(DEFAULTS) <= set(FUZZ), "add bad values for the new DJANGO_RCLONE key to FUZZ"


MANAGE = (
    "import sys, django; django.setup(); from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', *sys.argv[1:]])"
)
ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(("key", "value"), CASES, ids=[f"{k}-{i}" for i, (k, _v) in enumerate(CASES)])
def test_settings_fuzz_fails_with_one_line_and_writes_nothing(remote: Path, key: str, value: Any) -> None:
    """Every key with bad values: ``dbbackup`` fails with one ``CommandError`` line (or succeeds
    cleanly where the value is valid), and a failed run writes nothing."""
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), key: value}):
        try:
            _out, err = run("dbbackup", "--skip-checks")
        except CommandError as exc:
            message = str(exc)
            assert message.strip(), message
            assert "\n" not in message.strip(), message
            assert remote_files(remote) == []
            return
    assert err.strip() == "", err  # a valid value: a clean success


#: A sample of the fuzz cases run as real processes: stderr is exactly one line, no traceback.
SUBPROCESS_CASES = [
    ("REMOTE", "a:\nb"),
    ("RCLONE_BINARY", "/bin/true"),
    ("RCLONE_FLAGS", ["--dry-run"]),
    ("DB_FILENAME_TEMPLATE", "{database}-{datetime}.{ext}.manifest.json"),
    ("DB_RETENTION", {"MAX_AGE_DAYS": NAN}),
    ("CONNECTORS", {"default": {"CONECTOR": "x"}}),
    ("CONNECTOR_MAPPING", {1: "x"}),
    ("STREAM_CHUNK_SIZE", NAN),
]
MANAGE = (
    "import sys, django; django.setup(); from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', *sys.argv[1:]])"
)
ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(("key", "value"), SUBPROCESS_CASES, ids=[k for k, _v in SUBPROCESS_CASES])
def test_settings_fuzz_in_a_real_process(remote: Path, key: str, value: Any) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        # JSON cannot carry nan or int keys; the test settings evaluate this literal.
        "DJANGO_RCLONE_TEST_SETTINGS_REPR": repr({"REMOTE": str(remote), key: value}),
    }
    done = subprocess.run(
        [sys.executable, "-c", MANAGE, "dbbackup", "--skip-checks"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("CommandError: "), done.stderr
    assert remote_files(remote) == []
