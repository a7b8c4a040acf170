"""SIGNING_KEY: manifests carry an HMAC-SHA256, and a restore refuses what no key of ours signed.

Backups and restores go through the real sqlite3 shell and rclone with a local-folder remote; the
attacker's edits are made on the remote's files (``tests.forge``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from django_rclone import api, signing
from django_rclone.conf import get_settings, load_settings
from django_rclone.exceptions import UnsignedBackup
from django_rclone.manifest import Manifest
from tests.forge import MANIFEST_SUFFIX, forge, newest_object
from tests.plugins.sqlite.test_roundtrip import populate, snapshot
from tests.testapp.models import Author

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = pytest.mark.usefixtures("no_stray_processes")

KEY = "current-signing-key-0123456789-abcdefghij"
OLD_KEY = "previous-signing-key-0123456789-abcdefghij"
OTHER_KEY = "someone-elses-signing-key-0123456789-abcdef"
Settings = Callable[..., None]


def manifest_of(remote: Path) -> dict[str, object]:
    obj = newest_object(remote)
    return dict(json.loads(obj.with_name(obj.name + MANIFEST_SUFFIX).read_text()))


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_signed_backup_restores(sqlite_db: str, rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(SIGNING_KEY=KEY)
    populate()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    assert str(manifest_of(remote)["signature"]).startswith("hmac-sha256:")
    Author.objects.all().delete()
    out, err = run("dbrestore", "--noinput")
    assert snapshot() == before
    assert "signature" not in err
    assert KEY not in out + err


def test_tampered_backup_with_consistent_checksum_is_refused(
    sqlite_db: str, rclone_settings: Settings, remote: Path
) -> None:
    """The attacker changes the data and recomputes size and SHA-256; the signature no longer fits."""
    rclone_settings(SIGNING_KEY=KEY)
    populate()
    call_command("dbbackup", verbosity=0)
    forge(remote, lambda data: data.replace(b"Ada", b"Eve"))
    Author.objects.create(name="Carol")
    changed = snapshot()
    with pytest.raises(CommandError, match="signature does not match SIGNING_KEY") as refused:
        call_command("dbrestore", "--noinput", verbosity=0)
    assert KEY not in str(refused.value)
    assert snapshot() == changed
    call_command("dbrestore", "--noinput", "--allow-unsigned", verbosity=0)  # the explicit override
    assert Author.objects.filter(name="Eve").exists()


def test_unsigned_backup_is_refused_once_a_key_is_set(sqlite_db: str, rclone_settings: Settings, remote: Path) -> None:
    populate()
    before = snapshot()
    call_command("dbbackup", verbosity=0)  # no key yet
    assert manifest_of(remote)["signature"] == ""
    rclone_settings(SIGNING_KEY=KEY)
    Author.objects.create(name="Carol")
    changed = snapshot()
    with pytest.raises(CommandError, match=r"not signed.*--allow-unsigned"):
        call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == changed
    with pytest.raises(UnsignedBackup):
        api.restore("default")
    _, err = run("dbrestore", "--noinput", "--allow-unsigned")
    assert snapshot() == before
    assert "--allow-unsigned" in err


def test_unsigned_backup_restores_through_the_api_when_allowed(sqlite_db: str, rclone_settings: Settings) -> None:
    populate()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    rclone_settings(SIGNING_KEY=KEY)
    Author.objects.all().delete()
    result = api.restore("default", allow_unsigned=True)
    assert snapshot() == before
    assert any("not signed" in warning for warning in result.warnings)


def test_backup_without_manifest_is_refused_with_a_key(sqlite_db: str, rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(SIGNING_KEY=KEY)
    populate()
    call_command("dbbackup", verbosity=0)
    obj = newest_object(remote)
    obj.with_name(obj.name + MANIFEST_SUFFIX).unlink()
    with pytest.raises(CommandError, match="no manifest"):
        call_command("dbrestore", "--noinput", "-i", obj.name, verbosity=0)


def test_wrong_key_is_refused_and_old_keys_still_verify(
    sqlite_db: str, rclone_settings: Settings, remote: Path
) -> None:
    rclone_settings(SIGNING_KEY=OLD_KEY)
    populate()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    rclone_settings(SIGNING_KEY=OTHER_KEY)
    with pytest.raises(CommandError, match="signature does not match"):
        call_command("dbrestore", "--noinput", verbosity=0)
    rclone_settings(SIGNING_KEY=[KEY, OLD_KEY])  # rotation: KEY signs, OLD_KEY still verifies
    Author.objects.all().delete()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == before
    call_command("dbbackup", verbosity=0)
    newest = Manifest.from_bytes(json.dumps(manifest_of(remote)).encode())
    assert signing.check(newest, [KEY]) is signing.Signature.VALID
    assert signing.check(newest, [OLD_KEY]) is signing.Signature.INVALID


def test_verifybackups_reports_unsigned_and_forged(sqlite_db: str, rclone_settings: Settings, remote: Path) -> None:
    rclone_settings(SIGNING_KEY=KEY)
    populate()
    call_command("dbbackup", verbosity=0)
    out, _ = run("verifybackups")
    assert "OK" in out
    forge(remote, lambda data: data.replace(b"Ada", b"Eve"))
    err = io.StringIO()
    with pytest.raises(CommandError, match="failed verification"):
        call_command("verifybackups", stderr=err)
    assert "signature does not match" in err.getvalue()
    forge(remote, lambda data: data, keep_signature=False)
    err = io.StringIO()
    with pytest.raises(CommandError, match="failed verification"):
        call_command("verifybackups", stderr=err)
    assert "not signed" in err.getvalue()
    assert KEY not in err.getvalue()


def test_listbackups_json_says_whether_each_backup_is_signed(
    sqlite_db: str, rclone_settings: Settings, remote: Path
) -> None:
    populate()
    call_command("dbbackup", "-o", "default-2020-01-01-000001.sqlite3", verbosity=0)
    rclone_settings(SIGNING_KEY=KEY)
    call_command("dbbackup", "-o", "default-2020-01-01-000002.sqlite3", verbosity=0)
    call_command("dbbackup", "-o", "default-2020-01-01-000003.sqlite3", verbosity=0)
    forged = remote / "db" / "default-2020-01-01-000003.sqlite3.manifest.json"
    data = json.loads(forged.read_text())
    data["sha256"] = "0" * 64
    forged.write_text(json.dumps(data))
    out, _ = run("listbackups", "--json")
    rows = {row["name"][-9:]: (row["signed"], row["signature"]) for row in json.loads(out)}
    assert rows == {"1.sqlite3": (False, "unsigned"), "2.sqlite3": (True, "valid"), "3.sqlite3": (True, "invalid")}
    rclone_settings()  # without a key only "signed" can be told
    rows = {row["name"][-9:]: (row["signed"], row["signature"]) for row in json.loads(run("listbackups", "--json")[0])}
    assert rows == {"1.sqlite3": (False, None), "2.sqlite3": (True, None), "3.sqlite3": (True, None)}


def test_signature_covers_fields_this_version_does_not_know() -> None:
    """A field a later version adds is signed too, and an older reader still checks it."""
    base = Manifest(
        name="default-x.sqlite3",
        database="default",
        engine="e",
        connector="c",
        extension="sqlite3",
        size=1,
        sha256="0" * 64,
        started_at="",
        finished_at="",
        django_rclone_version="9",
    )
    future = Manifest.from_bytes(json.dumps({**json.loads(base.to_bytes()), "restore_hint": "a"}).encode())
    signed = signing.sign(future, KEY)
    raw = json.loads(signed.to_bytes())
    assert raw["restore_hint"] == "a"
    assert signing.check(Manifest.from_bytes(json.dumps(raw).encode()), [KEY]) is signing.Signature.VALID
    raw["restore_hint"] = "b"
    assert signing.check(Manifest.from_bytes(json.dumps(raw).encode()), [KEY]) is signing.Signature.INVALID
    raw["restore_hint"] = "a"
    raw["host"] = "elsewhere"
    assert signing.check(Manifest.from_bytes(json.dumps(raw).encode()), [KEY]) is signing.Signature.INVALID


@pytest.mark.parametrize("signature", [1, ["hmac-sha256:00"], {"a": 1}, "hmac-sha256", "md5:00"])
def test_a_malformed_signature_is_invalid_not_a_crash(signature: object) -> None:
    raw = {
        "name": "default-x.sqlite3",
        "database": "default",
        "engine": "e",
        "connector": "c",
        "extension": "sqlite3",
        "size": 1,
        "sha256": "0" * 64,
        "started_at": "",
        "finished_at": "",
        "django_rclone_version": "9",
        "format": 1,
        "signature": signature,
    }
    manifest = Manifest.from_bytes(json.dumps(raw).encode())
    assert signing.check(manifest, [KEY]) is signing.Signature.INVALID
    assert "does not match" in signing.problem(manifest, [KEY])


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("short-key", "shorter than 32"),
        ("", "shorter than 32"),
        (b"x" * 40, "not a string"),
        ([], "not a string"),
        ([KEY, 7], "not a string"),
        ([KEY, "short"], "shorter than 32"),
    ],
)
def test_bad_signing_key_is_a_clear_error_that_does_not_show_it(value: object, problem: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=problem) as error:
        load_settings({"REMOTE": "/tmp/x", "SIGNING_KEY": value})
    assert "SIGNING_KEY" in str(error.value)
    assert "short-key" not in str(error.value)


def test_key_is_not_in_the_settings_repr(rclone_settings: Settings) -> None:
    rclone_settings(SIGNING_KEY=[KEY, OLD_KEY])
    assert get_settings().signing_keys == (KEY, OLD_KEY)
    assert KEY not in repr(get_settings())
    assert OLD_KEY not in repr(get_settings())
