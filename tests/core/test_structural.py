"""django-snapshots' structural protocol: dump(db_alias, dest) / restore(db_alias, src) objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.core.conftest import remote_files
from tests.core.custom_connectors import SnapshotsStyleSqlite
from tests.testapp.models import Author

pytestmark = pytest.mark.usefixtures("no_stray_processes")


@pytest.mark.parametrize(
    "entry",
    ["tests.core.custom_connectors.SnapshotsStyleSqlite", SnapshotsStyleSqlite(), {"CONNECTOR": SnapshotsStyleSqlite}],
    ids=["dotted-path", "instance", "options-dict"],
)
def test_round_trip_and_metadata_in_manifest(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path, entry: object
) -> None:
    rclone_settings(CONNECTORS={"default": entry})
    Author.objects.create(name="Grace", bio="snapshots ✓")
    call_command("dbbackup", verbosity=0)
    manifest_path = next(p for p in (remote / "db").iterdir() if p.name.endswith(".sql.zst.manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    assert manifest["metadata"] == {"format": "sql", "by": "snapshots-style"}
    assert manifest["connector"] == "tests.core.custom_connectors.SnapshotsStyleSqlite"
    Author.objects.all().delete()
    Author.objects.create(name="Intruder")
    call_command("dbrestore", "--noinput", verbosity=0)
    assert list(Author.objects.values_list("name", "bio")) == [("Grace", "snapshots ✓")]
    assert not list(Path("/tmp").glob("django-rclone-*/default.sql"))  # private FIFO folders are gone


def test_failing_dump_fails_the_backup_and_leaves_nothing(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": "tests.core.custom_connectors.FailingSnapshots"})
    with pytest.raises(CommandError, match="ORA-39002"):
        call_command("dbbackup", verbosity=0)
    assert remote_files(remote) == []


def test_failing_restore_reports_the_connectors_error(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": SnapshotsStyleSqlite()})
    call_command("dbbackup", verbosity=0)
    rclone_settings(CONNECTORS={"default": "tests.core.custom_connectors.FailingSnapshots"})
    # Another connector than the one that made the backup: --force past dbrestore's connector check.
    # Its dump fails too, so no undo backup (that failure is tested in test_undo_backup.py).
    with pytest.raises(CommandError, match="ORA-39001"):
        call_command("dbrestore", "--noinput", "--force", "--no-undo-backup", verbosity=0)


def test_corrupted_backup_is_refused_before_the_connector_sees_it(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": SnapshotsStyleSqlite()}, COMPRESSION="none")  # edits the SQL text
    Author.objects.create(name="original")
    call_command("dbbackup", verbosity=0)
    obj = next(p for p in (remote / "db").iterdir() if p.name.endswith(".sql"))
    obj.write_text(obj.read_text().replace("original", "tampered"))
    Author.objects.create(name="current")
    with pytest.raises(CommandError, match="checked before restoring"):
        call_command("dbrestore", "--noinput", verbosity=0)
    assert sorted(Author.objects.values_list("name", flat=True)) == ["current", "original"]
