"""The SQLite file connectors refuse EXCLUDE instead of silently backing up every table (the
``.dump`` connector supports it: test_exclude.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.parametrize(
    "connector",
    [
        "django_rclone_sqlite.SqliteBackupConnector",
        "django_rclone_sqlite.SqliteCPConnector",
    ],
)
def test_exclude_is_refused_and_nothing_is_uploaded(
    sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path, connector: str
) -> None:
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": connector, "EXCLUDE": ["django_session"]}})
    with pytest.raises(CommandError, match=r"does not support the EXCLUDE option \(database 'default'\)"):
        call_command("dbbackup", verbosity=0)
    assert [p for p in remote.rglob("*") if p.is_file()] == []


def test_empty_exclude_is_accepted(sqlite_db: str, rclone_settings: Callable[..., Any], remote: Path) -> None:
    rclone_settings(CONNECTORS={"default": {"EXCLUDE": []}})
    call_command("dbbackup", verbosity=0)
    assert len([p for p in remote.rglob("*") if p.is_file()]) == 2  # the backup and its manifest
