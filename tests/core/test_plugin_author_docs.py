"""What the plugin-author docs show works as shown: examples run, the testing API is public, and
each connector has one import path across the docs."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport (a test dependency there)
    import tomli as tomllib

import pytest

import django_rclone
from django_rclone.exceptions import ConnectorNotFound

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def code_blocks(page: str, language: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_example_plugin_pyproject_in_the_docs_builds(tmp_path: Path) -> None:
    [block] = [b for b in code_blocks("writing-a-plugin.md", "toml") if "[project]" in b]
    data = tomllib.loads(block)
    assert data["build-system"]["requires"]
    assert data["build-system"]["build-backend"]
    assert data["project"]["entry-points"]["django_rclone"]["firebird"] == "django_rclone_firebird.plugin"


def test_plugin_listing_example_prints_the_core_distribution() -> None:
    [block] = [b for b in code_blocks("connectors.md", "python") if "get_host().plugins" in b]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "connectors.md", "exec"), {})  # noqa: S102 - the documented snippet
    lines = out.getvalue().splitlines()
    assert lines[0] == f"django_rclone.core django-rclone {django_rclone.__version__}"
    assert not [line for line in lines if line.endswith("None None")]


def test_testing_api_is_public_and_documented() -> None:
    from django_rclone import testing

    text = (DOCS / "writing-a-plugin.md").read_text(encoding="utf-8")
    assert "django_rclone.resolution" not in text
    assert "django_rclone.testing" in text
    reference = (DOCS / "reference" / "testing.md").read_text(encoding="utf-8")
    for name in testing.__all__:
        assert hasattr(testing, name)
    assert "::: django_rclone.testing" in reference


def test_isolated_plugins_loads_only_the_named_plugin(remote: Path) -> None:
    from django_rclone.testing import isolated_plugins, resolve

    with isolated_plugins("sqlite") as host:
        assert [info.name for info in host.plugins] == ["django_rclone.core", "sqlite"]
        found = resolve("default")
        assert found.rule == "plugin"
        assert found.detail == "plugin 'sqlite'"
    with isolated_plugins() as host, pytest.raises(ConnectorNotFound, match="django-rclone-sqlite"):
        resolve("default", host)
    with pytest.raises(LookupError, match="no-such-plugin"), isolated_plugins("no-such-plugin"):
        pass


SHORT_PATH = re.compile(r"django_rclone_(sqlite|postgres|mysql|mongodb)\.[A-Z]\w*Connector")


def test_one_import_path_per_connector_across_the_docs() -> None:
    pages = [*DOCS.rglob("*.md"), ROOT / "README.md"]
    found = [f"{page.relative_to(ROOT)}: {m.group(0)}" for page in pages for m in SHORT_PATH.finditer(page.read_text())]
    # Deprecated names are listed once, on purpose, where their replacements are documented.
    found = [
        hit for hit in found if "Binary" not in hit and "SQLiteConnector" not in hit and "MySQLConnector" not in hit
    ]
    found = [hit for hit in found if "PostgresConnector" not in hit]
    assert found == []
