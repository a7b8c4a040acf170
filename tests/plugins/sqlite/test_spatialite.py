"""SpatiaLite databases round-trip through every SQLite connector: ``.dump``, backup API, raw copy.

Uses the sqlite3 shell directly for data (pyenv Pythons cannot load SQLite extensions, so Django's
SpatiaLite backend is not used here); the backup and restore go through the real core and rclone.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

import django_rclone

pytestmark = [pytest.mark.spatialite, pytest.mark.usefixtures("no_stray_processes")]


def shell(db: Path, sql: str) -> str:
    done = subprocess.run(
        ["sqlite3", "-bail", "-cmd", ".load mod_spatialite", str(db), sql], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def spatial_db(tmp_path: Path, remote: Path) -> Iterator[Path]:
    if not shutil.which("sqlite3"):
        pytest.skip("the sqlite3 shell is not installed")
    probe = subprocess.run(
        ["sqlite3", "-cmd", ".load mod_spatialite", ":memory:", "SELECT spatialite_version()"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip("mod_spatialite cannot be loaded (apt-get install libsqlite3-mod-spatialite)")
    db = tmp_path / "geo.sqlite3"
    shell(
        db,
        "SELECT InitSpatialMetadata(1); CREATE TABLE place (id INTEGER PRIMARY KEY, name TEXT);"
        "SELECT AddGeometryColumn('place', 'geom', 4326, 'POINT', 'XY');"
        "INSERT INTO place (name, geom) VALUES ('Quito', MakePoint(-78.4678, -0.1807, 4326));"
        "INSERT INTO place (name, geom) VALUES ('Oslo', MakePoint(10.7522, 59.9139, 4326));",
    )
    databases = {"geo": {"ENGINE": "django.contrib.gis.db.backends.spatialite", "NAME": str(db)}}
    with override_settings(DATABASES=databases):
        yield db


QUERY = "SELECT name, AsText(geom), ST_SRID(geom) FROM place ORDER BY id"


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.parametrize(
    "connector",
    [
        None,  # the engine's default: SqliteConnector (.dump text restored by the sqlite3 shell)
        "django_rclone_sqlite.SqliteBackupConnector",
        "django_rclone_sqlite.SqliteCPConnector",
    ],
)
def test_geometry_survives_backup_and_restore(
    spatial_db: Path, connector: str | None, rclone_settings: Callable[..., Any]
) -> None:
    if connector:
        rclone_settings(CONNECTORS={"geo": connector})
    before = shell(spatial_db, QUERY)
    assert "POINT(-78.4678 -0.1807)|4326" in before
    result = django_rclone.backup("geo")
    assert result.manifest.connector.rsplit(".", 1)[1] == (connector or "SqliteConnector").rsplit(".", 1)[-1]
    shell(spatial_db, "DELETE FROM place WHERE name = 'Oslo'; UPDATE place SET geom = MakePoint(0, 0, 4326);")
    assert shell(spatial_db, QUERY) != before
    restored = django_rclone.restore("geo")
    assert restored.verified
    assert restored.sha256 == result.sha256
    assert shell(spatial_db, QUERY) == before
    assert shell(spatial_db, "SELECT CheckSpatialMetaData()") == "3"
