"""django-dbbackup's GPG-encrypted backups (``.gpg``, ``.gz.gpg``) restore with the user's key (issue 16).

Real GnuPG (a throwaway key in a private GNUPGHOME), real rclone and real sqlite3: the files are
made the way django-dbbackup makes them (the SQL dump, optionally gzipped, encrypted to a recipient
with ``gpg --encrypt``), copied onto the remote without a manifest and restored by name.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connections

import django_rclone
from django_rclone.conf import load_settings
from tests.core.conftest import remote_files
from tests.processes import ProcessWatch
from tests.testapp.models import Author

pytestmark = [
    pytest.mark.usefixtures("no_stray_processes"),
    pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed"),
]

Settings = Callable[..., None]
PASSPHRASE = "dbbackup-pass-Xq7v"
UID = "Backups <backups@example.invalid>"


@dataclass
class Keyring:
    home: Path

    def gpg(self, *args: str, data: bytes = b"") -> bytes:
        return subprocess.run(
            ["gpg", "--homedir", str(self.home), "--batch", "--quiet", *args],
            input=data,
            capture_output=True,
            check=True,
        ).stdout

    def encrypt(self, data: bytes) -> bytes:
        """As django-dbbackup (python-gnupg ``encrypt_file``): binary output to one recipient."""
        return self.gpg("--trust-model", "always", "--recipient", UID, "--encrypt", data=data)


@pytest.fixture
def keyring() -> Iterator[Keyring]:
    # A short path: gpg-agent's socket lives in the home folder when /run/user/UID does not exist.
    home = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))
    home.chmod(0o700)
    ring = Keyring(home)
    # The passphrase goes in on stdin: the /proc watch of a parallel test must never see it on argv.
    ring.gpg(
        "--pinentry-mode",
        "loopback",
        "--passphrase-fd",
        "0",
        "--quick-gen-key",
        UID,
        "future-default",
        "default",
        "never",
        data=PASSPHRASE.encode(),
    )
    yield ring
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False)
    shutil.rmtree(home, ignore_errors=True)


def names() -> list[str]:
    return sorted(Author.objects.values_list("name", flat=True))


def sql_dump() -> bytes:
    path = connections["default"].settings_dict["NAME"]
    return subprocess.run(["sqlite3", path, ".dump"], capture_output=True, check=True).stdout


def place(remote: Path, name: str, data: bytes) -> None:
    (remote / "db").mkdir(exist_ok=True)
    (remote / "db" / name).write_bytes(data)


def backed_up_then_changed(remote: Path, keyring: Keyring) -> None:
    """``imported.sqlite3.gpg`` on the remote holds Ada (encrypted as dbbackup does); Bob came after."""
    Author.objects.create(name="Ada")
    place(remote, "imported.sqlite3.gpg", keyring.encrypt(sql_dump()))
    Author.objects.create(name="Bob")


def restore(name: str, **options: object) -> str:
    out = io.StringIO()
    call_command("dbrestore", "--noinput", "-i", name, stdout=out, stderr=io.StringIO(), verbosity=1, **options)
    return out.getvalue()


def failed_restore(name: str) -> str:
    with pytest.raises(CommandError) as caught:
        restore(name)
    return str(caught.value)


@pytest.mark.parametrize("gzipped", [False, True], ids=["gpg", "gz-gpg"])
def test_a_dbbackup_gpg_file_restores_with_the_users_key(
    sqlite_db: str, remote: Path, rclone_settings: Settings, keyring: Keyring, gzipped: bool
) -> None:
    Author.objects.create(name="Ada")
    dump = sql_dump()
    name = "imported-default.sqlite3" + (".gz" if gzipped else "") + ".gpg"
    place(remote, name, keyring.encrypt(gzip.compress(dump) if gzipped else dump))
    Author.objects.create(name="Bob")
    rclone_settings(GPG={"HOME": str(keyring.home), "PASSPHRASE": PASSPHRASE})
    with ProcessWatch({"gpg"}) as watch:
        restore(name)
    assert names() == ["Ada"]
    gpgs = watch.runs_of("gpg", mine=True)
    assert gpgs
    assert all("--decrypt" in argv for argv in gpgs)
    assert watch.leaks(PASSPHRASE) == []  # through a pipe, never on a command line
    assert watch.env_leaks(PASSPHRASE) == []


@pytest.mark.parametrize(
    "gpg_setting",
    [{"PASSPHRASE": "wrong-passphrase"}, {}],
    ids=["wrong-passphrase", "no-passphrase"],
)
def test_without_the_right_passphrase_nothing_changes(
    sqlite_db: str, remote: Path, rclone_settings: Settings, keyring: Keyring, gpg_setting: dict[str, str]
) -> None:
    backed_up_then_changed(remote, keyring)
    rclone_settings(GPG={"HOME": str(keyring.home), **gpg_setting})
    message = failed_restore("imported.sqlite3.gpg")
    assert "gpg --decrypt" in message
    assert "wrong-passphrase" not in message
    assert names() == ["Ada", "Bob"]


def test_a_key_that_is_not_in_the_keyring(
    sqlite_db: str, remote: Path, rclone_settings: Settings, keyring: Keyring, tmp_path: Path
) -> None:
    Author.objects.create(name="Ada")
    place(remote, "imported.sqlite3.gpg", keyring.encrypt(sql_dump()))
    empty = Path(tempfile.mkdtemp(prefix="gpg-", dir="/tmp"))
    empty.chmod(0o700)
    try:
        rclone_settings(GPG={"HOME": str(empty)})
        message = failed_restore("imported.sqlite3.gpg")
    finally:
        subprocess.run(["gpgconf", "--homedir", str(empty), "--kill", "all"], capture_output=True, check=False)
        shutil.rmtree(empty, ignore_errors=True)
    assert "gpg --decrypt" in message
    assert "secret key" in message.lower()
    assert names() == ["Ada"]


@pytest.mark.parametrize("damage", ["flipped-byte", "truncated"])
def test_a_modified_or_truncated_gpg_file_never_reaches_the_database(
    sqlite_db: str, remote: Path, rclone_settings: Settings, keyring: Keyring, damage: str
) -> None:
    """gpg's integrity code (MDC) is checked before the restore tool gets its end of input."""
    Author.objects.bulk_create(Author(name=f"author-{i:05d}") for i in range(3000))
    before = names()
    data = bytearray(keyring.encrypt(sql_dump()))
    if damage == "flipped-byte":
        data[len(data) * 3 // 4] ^= 0x40
    else:
        del data[len(data) - 200 :]
    place(remote, "imported.sqlite3.gpg", bytes(data))
    Author.objects.create(name="Zed")
    rclone_settings(GPG={"HOME": str(keyring.home), "PASSPHRASE": PASSPHRASE})
    message = failed_restore("imported.sqlite3.gpg")
    assert "gpg --decrypt" in message
    assert names() == sorted([*before, "Zed"])


def test_a_missing_gpg_binary_is_one_clear_line(
    sqlite_db: str, remote: Path, rclone_settings: Settings, keyring: Keyring
) -> None:
    backed_up_then_changed(remote, keyring)
    rclone_settings(GPG={"BINARY": "/nonexistent/gpg"})
    message = failed_restore("imported.sqlite3.gpg")
    assert "encrypted with GPG" in message
    assert "install GnuPG" in message
    assert "\n" not in message.strip()
    assert names() == ["Ada", "Bob"]


def test_gpg_files_are_never_adopted_and_a_manifest_beside_one_is_refused(
    sqlite_db: str, remote: Path, rclone_settings: Settings, keyring: Keyring
) -> None:
    Author.objects.create(name="Ada")
    name = "default-2024-01-01-120000.sqlite3.gpg"  # matches DB_FILENAME_TEMPLATE: listed, made elsewhere
    place(remote, name, keyring.encrypt(sql_dump()))
    out = io.StringIO()
    with pytest.raises(CommandError, match="could not be adopted"):
        call_command("adoptbackups", "--write", stdout=out, stderr=out)
    assert "encrypted with GPG" in out.getvalue()
    assert remote_files(remote) == [f"db/{name}"]
    # A manifest someone put beside it (a real one, renamed): refused before anything is restored.
    made = django_rclone.backup("default")
    manifest = json.loads((remote / "db" / f"{made.name}.manifest.json").read_text())
    (remote / "db" / f"{name}.manifest.json").write_text(json.dumps({**manifest, "name": name}))
    rclone_settings(GPG={"HOME": str(keyring.home), "PASSPHRASE": PASSPHRASE})
    Author.objects.create(name="Bob")
    with pytest.raises(CommandError) as caught:
        restore(name)
    assert "named as a GPG file" in str(caught.value)
    assert names() == ["Ada", "Bob"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("gpg", "is a str, not a dict"),
        ({"HOMEDIR": "/x"}, "unknown key 'HOMEDIR'"),
        ({"HOME": ""}, "has HOME ''"),
        ({"BINARY": 3}, "has BINARY 3"),
        ({"PASSPHRASE": "two\nlines"}, "has PASSPHRASE (not shown)"),
    ],
)
def test_bad_gpg_settings(value: object, shown: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        load_settings({"REMOTE": "/tmp/x", "GPG": value})
    assert "DJANGO_RCLONE['GPG']" in str(caught.value)
    assert shown in str(caught.value)
    assert "two\nlines" not in str(caught.value)


def test_with_a_signing_key_a_gpg_file_needs_allow_unsigned(
    sqlite_db: str, remote: Path, rclone_settings: Settings, keyring: Keyring
) -> None:
    """Encryption to a public key authenticates nothing: SIGNING_KEY still asks for --allow-unsigned."""
    backed_up_then_changed(remote, keyring)
    rclone_settings(SIGNING_KEY="k" * 40, GPG={"HOME": str(keyring.home), "PASSPHRASE": PASSPHRASE})
    assert "--allow-unsigned" in failed_restore("imported.sqlite3.gpg")
    assert names() == ["Ada", "Bob"]
    restore("imported.sqlite3.gpg", allow_unsigned=True)
    assert names() == ["Ada"]


def test_an_output_filename_ending_in_gpg_is_refused(sqlite_db: str, rclone_settings: Settings, remote: Path) -> None:
    """Our own backup named ``.gpg`` would be sent through gpg on restore: refused when it is made."""
    rclone_settings(COMPRESSION="none")
    with pytest.raises(CommandError, match=r"ends in .\.gpg."):
        call_command("dbbackup", "-o", "nightly.gpg", verbosity=0)
    assert remote_files(remote) == []
