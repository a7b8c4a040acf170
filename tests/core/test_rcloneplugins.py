"""``rcloneplugins``: installed plugins and the resolution rule behind every alias, text and JSON."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from django_rclone.plugins import DISABLE_ENV, reset_host
from django_rclone.resolution import explain
from tests.core.conftest import MANAGE, ROOT
from tests.core.test_plugins import GOOD_PLUGIN, make_distribution

SQLITE = "django_rclone_sqlite.connectors.SqliteConnector"
STANDIN = "tests.standins.connector.StandinConnector"


@pytest.fixture(autouse=True)
def fresh_plugins() -> Iterator[None]:
    reset_host()
    yield
    reset_host()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("rcloneplugins", *args, stdout=out)
    return out.getvalue()


def report() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run("--json"))
    return data


def by_alias(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {db["alias"]: db for db in data["databases"]}


def test_plugins_with_versions_and_engines(remote: Path) -> None:
    data = report()
    plugins = {p["name"]: p for p in data["plugins"]}
    sqlite = plugins["sqlite"]
    assert sqlite["distribution"] == "django-rclone-sqlite"
    assert sqlite["version"] == version("django-rclone-sqlite")
    assert "django.db.backends.sqlite3" in sqlite["engines"]
    assert sqlite["serves"] == sqlite["engines"]
    assert plugins["postgres"]["version"] == version("django-rclone-postgres")
    assert "django.contrib.gis.db.backends.postgis" in plugins["postgres"]["engines"]
    assert plugins["django_rclone.core"]["version"] == version("django-rclone")


def test_plugin_rule(remote: Path) -> None:
    default = by_alias(report())["default"]
    assert default == {
        "alias": "default",
        "engine": "django.db.backends.sqlite3",
        "resolved": True,
        "connector": SQLITE,
        "rule": "plugin",
        "detail": "plugin 'sqlite'",
        "package": None,
    }


def test_connectors_and_mapping_rules(rclone_settings: Callable[..., None]) -> None:
    rclone_settings(
        CONNECTORS={"default": {"CONNECTOR": STANDIN}},
        CONNECTOR_MAPPING={"django.db.backends.sqlite3": "django_rclone_sqlite.rawconnectors.SqliteBackupConnector"},
    )
    aliases = by_alias(report())
    assert (aliases["default"]["rule"], aliases["default"]["connector"]) == ("CONNECTORS", STANDIN)
    assert aliases["default"]["detail"] == "DJANGO_RCLONE['CONNECTORS']['default']"
    assert aliases["other"]["rule"] == "CONNECTOR_MAPPING"
    assert aliases["other"]["connector"] == "django_rclone_sqlite.rawconnectors.SqliteBackupConnector"
    assert aliases["other"]["detail"] == "DJANGO_RCLONE['CONNECTOR_MAPPING']['django.db.backends.sqlite3']"


def test_not_found_names_the_package(remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "sqlite")
    reset_host()
    default = by_alias(report())["default"]
    assert (default["resolved"], default["rule"], default["package"]) == (False, "not found", "django-rclone-sqlite")
    assert default["connector"] is None
    text = run()
    assert (
        "default  (ENGINE django.db.backends.sqlite3)\n      -> no connector: pip install django-rclone-sqlite" in text
    )
    assert "sqlite  (" not in text


def test_unbuildable_connector_is_an_error_not_a_crash(rclone_settings: Callable[..., None]) -> None:
    rclone_settings(CONNECTORS={"other": "no_such_package.Connector"})
    other = by_alias(report())["other"]
    assert (other["resolved"], other["rule"]) == (False, "error")
    assert "no_such_package.Connector" in other["detail"]
    assert "-> error: " in run()


def test_explain_agrees_with_resolve_for_every_alias(remote: Path) -> None:
    from django.conf import settings

    from django_rclone.resolution import resolve

    for alias in settings.DATABASES:
        found = explain(alias)
        if found.resolved:
            assert found.connector == resolve(alias).connector_path


def test_text_output(remote: Path) -> None:
    text = run()
    assert text.startswith(f"django-rclone {version('django-rclone')}\n")
    assert f"  sqlite  (django-rclone-sqlite {version('django-rclone-sqlite')}; django_rclone_sqlite.plugin)" in text
    assert (
        f"  default  (ENGINE django.db.backends.sqlite3)\n      -> {SQLITE}\n         chosen by plugin 'sqlite'" in text
    )


def test_a_third_party_plugin_and_a_lost_claim(remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_distribution(tmp_path, "toy-plugin", {"toy": "toy_plugin_mod"}, {"toy_plugin_mod": GOOD_PLUGIN})
    source = (
        "from django_rclone import hookimpl\n\n@hookimpl\ndef django_rclone_engines():\n"
        f"    return {{'django.db.backends.sqlite3': {STANDIN!r}}}\n"
    )
    make_distribution(tmp_path / "b", "zz-plugin", {"zz": "zz_plugin_mod"}, {"zz_plugin_mod": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path / "b"))
    reset_host()
    with pytest.warns(UserWarning, match="both serve"):
        data = report()
    plugins = {p["name"]: p for p in data["plugins"]}
    assert (plugins["toy"]["distribution"], plugins["toy"]["version"]) == ("toy-plugin", "1.2.3")
    assert plugins["toy"]["engines"] == ["example.db.backends.toy"]
    winner = by_alias(data)["default"]["detail"]
    loser = "sqlite" if winner == "plugin 'zz'" else "zz"
    assert "django.db.backends.sqlite3" not in plugins[loser]["serves"]
    assert "django.db.backends.sqlite3" in plugins[loser]["engines"]
    with pytest.warns(UserWarning, match="both serve"):
        assert "django.db.backends.sqlite3  [served by another plugin]" in run()


def test_json_through_manage_py(remote: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "DJANGO_RCLONE_TEST_SETTINGS_JSON": json.dumps(
            {"REMOTE": str(remote), "CONNECTORS": {"other": {"CONNECTOR": STANDIN}}}
        ),
    }
    done = subprocess.run(
        [sys.executable, "-c", MANAGE, "rcloneplugins", "--json", "--skip-checks"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    aliases = by_alias(json.loads(done.stdout))
    assert (aliases["default"]["rule"], aliases["other"]["rule"]) == ("plugin", "CONNECTORS")
