"""Every SQLite connector through every codec of the pipeline's compression stage (real sqlite3, rclone)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.plugins.sqlite.test_roundtrip import populate, snapshot
from tests.testapp.models import Author

pytestmark = pytest.mark.usefixtures("no_stray_processes")

CONNECTORS = {
    "dump": ("django_rclone_sqlite.connectors.SqliteConnector", "sqlite3"),
    "backup-api": ("django_rclone_sqlite.rawconnectors.SqliteBackupConnector", "db"),
    "copy": ("django_rclone_sqlite.rawconnectors.SqliteCPConnector", "db"),
}
CODECS = {"zstd": ".zst", "zstd:19": ".zst", "gzip": ".gz", "none": ""}


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("connector", list(CONNECTORS))
def test_round_trip_through_each_codec(
    sqlite_db: str, remote: Path, rclone_settings: Callable[..., None], connector: str, codec: str
) -> None:
    path, ext = CONNECTORS[connector]
    rclone_settings(CONNECTORS={"default": path}, COMPRESSION=codec, COMPRESSION_THREADS=2)
    populate()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    [obj] = [p for p in (remote / "db").iterdir() if not p.name.endswith(".manifest.json")]
    assert obj.name.endswith(f".{ext}{CODECS[codec]}")
    Author.objects.create(name="Carol")
    Author.objects.filter(name="Ada").delete()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == before
