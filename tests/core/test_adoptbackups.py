"""adoptbackups: backups made elsewhere (no manifest, no run marker) get a manifest after one read,
with real rclone on a local-folder remote and real SQLite."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_rclone.api import list_backups, restore
from tests.testapp.models import Author


def _made_elsewhere(remote: Path) -> str:
    """A real backup whose manifest is removed: what django-rclone 0.1.0 left on the remote."""
    call_command("dbbackup", verbosity=0)
    [manifest] = (remote / "db").glob("*.manifest.json")
    manifest.unlink()
    return manifest.name.removesuffix(".manifest.json")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("adoptbackups", *args, stdout=out, stderr=io.StringIO(), verbosity=1)
    return out.getvalue()


def test_dry_run_writes_nothing_and_write_makes_the_backup_verifiable(sqlite_db: str, remote: Path) -> None:
    Author.objects.create(name="Ada")
    name = _made_elsewhere(remote)
    [entry] = list_backups("default")
    assert entry.name == name
    assert not entry.verified
    out = run()
    assert f"WOULD ADOPT {name}" in out
    assert "Dry run" in out
    assert not (remote / "db" / f"{name}.manifest.json").exists()
    assert f"ADOPTED {name}" in run("--write")
    [entry] = list_backups("default")
    assert entry.verified
    call_command("verifybackups", "-i", name, verbosity=0)  # raises if the manifest does not match
    Author.objects.all().delete()
    result = restore("default", input_path=name, undo_backup=False)
    assert result.verified
    assert list(Author.objects.values_list("name", flat=True)) == ["Ada"]
    assert "nothing to adopt" in run("--write")  # a second run finds nothing


def test_a_backup_that_does_not_decode_is_not_adopted(sqlite_db: str, remote: Path) -> None:
    name = _made_elsewhere(remote)
    obj = remote / "db" / name
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0xFF
    obj.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="1 of 1 backup"):
        run("--write")
    assert not (remote / "db" / f"{name}.manifest.json").exists()


def test_a_committed_backup_is_not_adoptable_by_name(sqlite_db: str, remote: Path) -> None:
    call_command("dbbackup", verbosity=0)
    [entry] = list_backups("default")
    with pytest.raises(CommandError, match="not a backup made elsewhere"):
        run("-i", entry.name, "--write")
