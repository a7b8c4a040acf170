"""Errors name a failing process by ``BaseConnector.tool_label(phase)``, so a ``python -m`` helper
is reported under the tool's name, not as ``python3.x``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.core.conftest import remote_files

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = pytest.mark.usefixtures("no_stray_processes")


def test_dump_error_uses_the_connectors_label(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    rclone_settings(CONNECTORS={"default": "tests.core.custom_connectors.HelperConnector"})
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    assert str(caught.value).startswith("acme-dump (dump of database 'default') exited with status 3: acme: no licence")
    assert remote_files(remote) == []


def test_restore_error_uses_the_connectors_label(
    sqlite_db: str, rclone_settings: Callable[..., None], remote: Path
) -> None:
    call_command("dbbackup", verbosity=0)
    rclone_settings(CONNECTORS={"default": "tests.core.custom_connectors.HelperConnector"})
    with pytest.raises(CommandError, match=r"acme-restore \(restore of database 'default'\) exited with status 4"):
        # No undo backup: this connector's dump fails on purpose.
        call_command("dbrestore", "--noinput", "--force", "--no-undo-backup", verbosity=0)


def test_without_a_label_the_tool_is_named(sqlite_db: str, rclone_settings: Callable[..., None], remote: Path) -> None:
    rclone_settings(CONNECTORS={"default": "tests.core.custom_connectors.UnlabelledHelperConnector"})
    with pytest.raises(CommandError, match=rf"^{Path(sys.executable).name} \(dump of database 'default'\)"):
        call_command("dbbackup", verbosity=0)


def test_shipped_helper_connectors_are_labelled(sqlite_db: str, rclone_settings: Callable[..., None]) -> None:
    from django_rclone.resolution import resolve

    rclone_settings(CONNECTORS={"default": "django_rclone_sqlite.rawconnectors.SqliteBackupConnector"})
    raw = resolve("default").connector
    assert raw.tool_label("DUMP") == "django_rclone_sqlite.rawfile backup-dump"
    assert raw.tool_label("RESTORE") == "django_rclone_sqlite.rawfile backup-restore"
    rclone_settings(CONNECTORS={"default": "django_rclone.db.django.DjangoDumpDataConnector"})
    dumpdata = resolve("default").connector
    assert (dumpdata.tool_label("DUMP"), dumpdata.tool_label("RESTORE")) == ("dumpdata", "loaddata")
    rclone_settings(CONNECTORS={"default": "tests.core.custom_connectors.SnapshotsStyleSqlite"})
    assert resolve("default").connector.tool_label("DUMP") == "tests.core.custom_connectors.SnapshotsStyleSqlite.dump()"
