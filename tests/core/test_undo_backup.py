"""The undo backup: ``dbrestore`` backs up the database as it is before replacing it."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.core.conftest import remote_files
from tests.testapp.models import Author

pytestmark = pytest.mark.usefixtures("no_stray_processes")


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def names() -> list[str]:
    return sorted(Author.objects.values_list("name", flat=True))


def rows(*args: str) -> list[dict[str, Any]]:
    return list(json.loads(run("listbackups", "--json", *args)))


def backed_up_then_changed() -> str:
    Author.objects.create(name="Ada")
    call_command("dbbackup", verbosity=0)
    Author.objects.create(name="Carol")
    (row,) = rows()
    return str(row["name"])


def test_restore_takes_an_undo_backup_and_prints_the_command_that_undoes_it(sqlite_db: str, remote: Path) -> None:
    original = backed_up_then_changed()
    output = run("dbrestore", "--noinput")
    assert names() == ["Ada"]
    (undo_row,) = [r for r in rows() if r["name"] != original]
    assert undo_row["kind"] == "pre-restore"
    assert {r["name"]: r["kind"] for r in rows()}[original] == "backup"
    command = f"python manage.py dbrestore -d default -i {undo_row['name']} --noinput"
    assert command in output
    table = run("listbackups").splitlines()
    assert [line.split()[-1] for line in table[1:]] == ["pre-restore", "backup"]
    # Running the printed command puts the database back as it was before the restore.
    words = shlex.split(command)[2:]
    call_command(*words, "--no-undo-backup", verbosity=0)
    assert names() == ["Ada", "Carol"]


def test_plain_restore_never_picks_an_undo_backup(sqlite_db: str, remote: Path) -> None:
    original = backed_up_then_changed()
    call_command("dbrestore", "--noinput", verbosity=0)  # makes the newest object an undo backup
    Author.objects.create(name="Dan")
    output = run("dbrestore", "--noinput")
    assert f"from {original}" in output
    assert names() == ["Ada"]


def test_only_undo_backups_must_be_named(sqlite_db: str, remote: Path) -> None:
    backed_up_then_changed()
    call_command("dbrestore", "--noinput", verbosity=0)
    ordinary = [r["name"] for r in rows() if r["kind"] == "backup"]
    for name in ordinary:
        (remote / "db" / f"{name}.manifest.json").unlink()
        (remote / "db" / name).unlink()
    with pytest.raises(CommandError, match="except pre-restore undo backups; name one with -i"):
        call_command("dbrestore", "--noinput", verbosity=0)


def test_no_undo_backup_opts_out(sqlite_db: str, remote: Path) -> None:
    backed_up_then_changed()
    before = remote_files(remote)
    output = run("dbrestore", "--noinput", "--no-undo-backup")
    assert remote_files(remote) == before
    assert "undo" not in output
    assert names() == ["Ada"]


def test_python_api_returns_the_undo_backup(sqlite_db: str, remote: Path) -> None:
    import django_rclone

    backed_up_then_changed()
    result = django_rclone.restore("default")
    assert result.undo is not None
    assert result.undo_command == f"python manage.py dbrestore -d default -i {result.undo} --noinput"
    assert django_rclone.restore("default", undo_backup=False).undo is None


def test_undo_backups_are_outside_the_policy_and_aged_by_keep_days(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None]
) -> None:
    rclone_settings(DB_CLEANUP_KEEP=1)
    original = backed_up_then_changed()
    call_command("dbrestore", "--noinput", verbosity=0)
    (undo,) = [r["name"] for r in rows() if r["kind"] == "pre-restore"]
    # Young undo backups stay, and do not push the newest ordinary backup out of LAST = 1.
    assert "Nothing to delete" in run("cleanbackups")
    assert {r["name"] for r in rows()} == {original, undo}
    rclone_settings(DB_CLEANUP_KEEP=1, PRE_RESTORE_KEEP_DAYS=0)
    output = run("cleanbackups")
    assert re.search(rf"Deleted {re.escape(undo)}: pre-restore undo backup older than 0 days", output)
    assert [r["name"] for r in rows()] == [original]


def test_keep_days_is_validated(remote: Path, rclone_settings: Callable[..., None]) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from django_rclone.conf import get_settings

    rclone_settings(PRE_RESTORE_KEEP_DAYS=-1)
    with pytest.raises(ImproperlyConfigured, match="PRE_RESTORE_KEEP_DAYS"):
        get_settings()


def test_failed_undo_backup_stops_the_restore(standin: Callable[..., Path], remote: Path) -> None:
    out = standin(dump=["--size", "1000"])
    call_command("dbbackup", verbosity=0)
    standin(dump=["--fail-after", "0"])
    with pytest.raises(CommandError) as caught:
        call_command("dbrestore", "--noinput", verbosity=0)
    message = str(caught.value)
    assert message.startswith("the undo backup of database 'default' failed, so the restore did not start")
    assert "--no-undo-backup" in message
    assert not out.exists()
    call_command("dbrestore", "--noinput", "--no-undo-backup", verbosity=0)
    assert out.exists()


def test_verification_and_status_judge_the_newest_ordinary_backup(sqlite_db: str, remote: Path) -> None:
    """An undo backup is no proof that scheduled backups still run: freshness checks skip it."""
    from django_rclone.operations.verify import verify_latest

    original = backed_up_then_changed()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert [r.name for r in verify_latest("default")] == [original]
    for name in [r["name"] for r in rows()]:
        if name == original:
            (remote / "db" / f"{name}.manifest.json").unlink()
    (result,) = verify_latest("default")
    assert not result.ok
    assert "except pre-restore undo backups" in result.problem
