"""Plugin discovery through real entry points, guarded loading, hook facade."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pluggy
import pytest

from django_rclone.plugins import DISABLE_ENV, build_host, hookimpl


def make_distribution(root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A minimal installed distribution (dist-info on sys.path) with django_rclone entry points."""
    info = root / f"{name}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[django_rclone]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD_PLUGIN = """
from django_rclone import hookimpl

@hookimpl
def django_rclone_engines():
    return {"example.db.backends.toy": "django_rclone_sqlite.connectors.SqliteConnector"}
"""


def test_installed_sqlite_plugin_is_discovered() -> None:
    host = build_host()
    claims = host.engines()
    assert claims["django.db.backends.sqlite3"].plugin == "sqlite"
    info = next(p for p in host.plugins if p.name == "sqlite")
    assert info.distribution == "django-rclone-sqlite"
    assert info.version


def test_third_party_distribution_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_distribution(tmp_path, "toy-plugin", {"toy": "toy_plugin_mod"}, {"toy_plugin_mod": GOOD_PLUGIN})
    monkeypatch.syspath_prepend(str(tmp_path))
    host = build_host()
    assert host.engines()["example.db.backends.toy"].plugin == "toy"
    assert any(p.distribution == "toy-plugin" and p.version == "1.2.3" for p in host.plugins)


def test_broken_plugin_warns_with_distribution_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_distribution(
        tmp_path,
        "broken-plugin",
        {"broken": "broken_plugin_mod"},
        {"broken_plugin_mod": "raise RuntimeError('boom')\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host = build_host()
    messages = [str(w.message) for w in caught]
    assert any("'broken'" in m and "broken-plugin" in m and "RuntimeError: boom" in m for m in messages)
    assert "django.db.backends.sqlite3" in host.engines()  # the others still load


def test_misspelled_hook_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = "from django_rclone import hookimpl\n\n@hookimpl\ndef django_rclone_engine():\n    return {}\n"
    make_distribution(tmp_path, "typo-plugin", {"typo": "typo_plugin_mod"}, {"typo_plugin_mod": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host = build_host()
    assert any("typo-plugin" in str(w.message) and "django_rclone_engine" in str(w.message) for w in caught)
    assert "typo" not in [p.name for p in host.plugins]


def test_plugins_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "sqlite")
    assert "django.db.backends.sqlite3" not in build_host().engines()
    monkeypatch.setenv(DISABLE_ENV, "*")
    assert [p.name for p in build_host().plugins] == ["django_rclone.core"]


def test_conflicting_claims_warn_and_last_wins() -> None:
    host = build_host()

    class Other:
        @hookimpl
        def django_rclone_engines(self) -> dict[str, str]:
            return {"django.db.backends.sqlite3": "tests.standins.connector.StandinConnector"}

    host.register(Other(), name="other")
    with pytest.warns(UserWarning, match="both serve 'django.db.backends.sqlite3'"):
        claim = host.engines()["django.db.backends.sqlite3"]
    assert claim.plugin == "other"


def test_hookspecs_are_documented() -> None:
    from django_rclone import hookspecs

    pm = pluggy.PluginManager("django_rclone")
    pm.add_hookspecs(hookspecs)
    for name in ("django_rclone_engines", "django_rclone_dump", "django_rclone_restore", "django_rclone_extension"):
        spec = getattr(hookspecs, name)
        assert spec.__doc__, name
        assert len(spec.__doc__) > 100, name
        assert hasattr(pm.hook, name)
