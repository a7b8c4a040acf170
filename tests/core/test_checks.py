"""System checks: each id provoked for real (settings, a PATH without the tools, stand-in rclone
binaries printing old or no versions, plugins disabled), in process and through ``manage.py check``."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import checks as django_checks
from django.test import override_settings

from django_rclone import checks
from django_rclone.plugins import DISABLE_ENV, reset_host
from tests.core.conftest import MANAGE, ROOT


def run_checks() -> list[django_checks.CheckMessage]:
    """Every django-rclone check, through Django's registry (what ``manage.py check`` runs)."""
    return django_checks.run_checks(tags=[checks.TAG])


def ids(messages: list[django_checks.CheckMessage]) -> list[str]:
    return sorted(m.id or "" for m in messages)


def make_program(folder: Path, name: str, script: str) -> Path:
    """A tiny executable stand-in (fault injection only)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    """Rebuild the plugin host for this test and again afterwards (the environment decides what loads)."""
    reset_host()
    yield
    reset_host()


def test_registered_under_the_django_rclone_tag() -> None:
    registered = django_checks.registry.registry.get_checks()
    ours = [c for c in registered if c.__module__ == "django_rclone.checks"]
    assert {c.__name__ for c in ours} == {f.__name__ for f in checks.ALL_CHECKS}
    assert all(checks.TAG in c.tags for c in ours)
    assert checks.TAG in django_checks.registry.registry.tags_available()


def test_a_complete_configuration_has_no_errors(remote: Path) -> None:
    assert [m for m in run_checks() if m.is_serious()] == []


@pytest.mark.parametrize("value", [None, {}, {"REMOTE": ""}])
def test_e001_remote_not_set(value: Any) -> None:
    with override_settings(DJANGO_RCLONE=value):
        messages = run_checks()
    assert ids(messages) == ["django_rclone.E001"]
    assert "REMOTE" in messages[0].msg
    assert "myremote:backups" in (messages[0].hint or "")


@pytest.mark.parametrize("remote", ["not a remote", ":s3,secret_access_key='abc:bucket"])
def test_e002_remote_malformed(remote: str) -> None:
    with override_settings(DJANGO_RCLONE={"REMOTE": remote}):
        messages = run_checks()
    assert ids(messages) == ["django_rclone.E002"]
    assert "DJANGO_RCLONE['REMOTE']" in messages[0].msg


def test_e003_other_setting_invalid(remote: Path) -> None:
    with override_settings(DJANGO_RCLONE={"REMOTE": str(remote), "DB_CLEANUP_KEEP": 0}):
        messages = run_checks()
    assert ids(messages) == ["django_rclone.E003"]
    assert "DB_CLEANUP_KEEP" in messages[0].msg


def test_w008_connector_cannot_be_built(rclone_settings: Callable[..., None]) -> None:
    rclone_settings(CONNECTORS={"other": "no_such_package.Connector"})
    messages = [m for m in run_checks() if m.id == "django_rclone.W008"]
    assert len(messages) == 1
    assert not messages[0].is_serious()  # one alias's mistake must not stop migrate or other commands
    assert "'other'" in messages[0].msg
    assert "no_such_package.Connector" in messages[0].msg


def test_w001_rclone_not_found(rclone_settings: Callable[..., None], tmp_path: Path) -> None:
    rclone_settings(RCLONE_BINARY="rclone-that-is-not-installed")
    assert "django_rclone.W001" in ids(run_checks())
    rclone_settings(RCLONE_BINARY=str(tmp_path / "missing" / "rclone"))
    messages = [m for m in run_checks() if m.id == "django_rclone.W001"]
    assert len(messages) == 1
    assert "missing/rclone" in messages[0].msg


def test_w002_rclone_too_old(rclone_settings: Callable[..., None], tmp_path: Path) -> None:
    old = make_program(tmp_path / "bin", "rclone", 'echo "rclone v1.50.2"\necho "- os/version: stand-in"\n')
    rclone_settings(RCLONE_BINARY=str(old))
    messages = [m for m in run_checks() if m.id.startswith("django_rclone.W00") and m.id <= "django_rclone.W003"]
    assert ids(messages) == ["django_rclone.W002"]
    assert "1.50.2" in messages[0].msg
    assert "1.57" in messages[0].msg


def test_w002_passes_the_real_rclone(remote: Path) -> None:
    assert not {"django_rclone.W001", "django_rclone.W002", "django_rclone.W003"} & set(ids(run_checks()))


@pytest.mark.parametrize(
    "script", ['echo "hello, I am not rclone"\n', 'echo "rclone v1.99.0"\necho "boom" >&2\nexit 2\n']
)
def test_w003_version_unreadable(rclone_settings: Callable[..., None], tmp_path: Path, script: str) -> None:
    odd = make_program(tmp_path / "bin", "rclone", script)
    rclone_settings(RCLONE_BINARY=str(odd))
    assert "django_rclone.W003" in ids(run_checks())


def test_parse_rclone_version() -> None:
    assert checks.parse_rclone_version("rclone v1.75.2\n- os/version: debian") == (1, 75, 2)
    assert checks.parse_rclone_version("rclone v1.76.0-DEV\n") == (1, 76, 0)
    assert checks.parse_rclone_version("rclone 1.60\n") == (1, 60, 0)
    assert checks.parse_rclone_version("") is None


def test_w004_no_connector_names_the_plugin(remote: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> None:
    monkeypatch.setenv(DISABLE_ENV, "sqlite")
    reset_host()
    messages = [m for m in run_checks() if m.id == "django_rclone.W004"]
    aliases = sorted(m.msg.split("'")[1] for m in messages)
    assert "default" in aliases
    assert "other" in aliases
    assert all(m.hint == "pip install django-rclone-sqlite" for m in messages if "sqlite3" in m.msg)


def test_w005_tools_missing_from_path(remote: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # rclone is still found beside this Python
    messages = [m for m in run_checks() if m.id == "django_rclone.W005"]
    text = "\n".join(m.msg for m in messages)
    assert "'pg_dump' (DUMP_CMD of PgDumpConnector for database 'postgres')" in text
    assert "'pg_restore' (RESTORE_CMD of PgDumpConnector for database 'postgres')" in text
    assert "'sqlite3' (DUMP_CMD of SqliteConnector for database 'default')" in text
    assert "for database 'mysql'" in text
    postgres_hint = next(m.hint for m in messages if "'postgres'" in m.msg)
    assert "postgresql-client" in (postgres_hint or "")


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs pg_dump on PATH")
def test_w005_quiet_when_the_tools_are_installed(remote: Path) -> None:
    assert not [m for m in run_checks() if m.id == "django_rclone.W005" and "'postgres'" in m.msg]


def test_w005_honours_cmd_prefix_and_env_path(rclone_settings: Callable[..., None], tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    make_program(tools, "my-sqlite3", 'exec sqlite3 "$@"\n')
    rclone_settings(
        CONNECTORS={
            "default": {"DUMP_CMD": "my-sqlite3", "DUMP_ENV": {"PATH": str(tools)}, "RESTORE_PREFIX": "no-such-nice"},
            "other": {"RESTORE_CMD": str(tmp_path / "nowhere" / "sqlite3")},
        }
    )
    messages = [m.msg for m in run_checks() if m.id == "django_rclone.W005"]
    assert not any("my-sqlite3" in m for m in messages)  # found on its DUMP_ENV PATH
    assert any("'no-such-nice' (RESTORE_PREFIX" in m and "'default'" in m for m in messages)
    assert any("nowhere/sqlite3' (RESTORE_CMD" in m and "'other'" in m for m in messages)


def test_w006_media_root_unset_only_when_media_is_configured(remote: Path) -> None:
    with override_settings(MEDIA_ROOT="", DJANGO_RCLONE={"REMOTE": str(remote), "MEDIA_BACKUP_DIR": "files"}):
        assert "django_rclone.W006" in ids(run_checks())
    with override_settings(MEDIA_ROOT="", DJANGO_RCLONE={"REMOTE": str(remote)}):
        assert "django_rclone.W006" not in ids(run_checks())


def test_w007_connectors_entry_for_unknown_alias(rclone_settings: Callable[..., None]) -> None:
    rclone_settings(CONNECTORS={"defualt": {"DUMP_CMD": "sqlite3"}})
    messages = [m for m in run_checks() if m.id == "django_rclone.W007"]
    assert len(messages) == 1
    assert "'defualt'" in messages[0].msg


def test_checks_skip_when_limited_to_other_apps() -> None:
    from django.apps import apps

    with override_settings(DJANGO_RCLONE={"REMOTE": "not a remote"}):
        assert django_checks.run_checks(app_configs=[apps.get_app_config("auth")], tags=[checks.TAG]) == []


# -- through manage.py check -----------------------------------------------------------------------


def manage_check(rclone: dict[str, Any], *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "DJANGO_RCLONE_TEST_SETTINGS_JSON": json.dumps(rclone),
    }
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-c", MANAGE, "check", "--tag", checks.TAG, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_check_fails_on_a_malformed_remote() -> None:
    done = manage_check({"REMOTE": "not a remote"})
    assert done.returncode == 1
    assert "django_rclone.E002" in done.stderr


def test_manage_check_passes_a_good_configuration(remote: Path) -> None:
    done = manage_check({"REMOTE": str(remote)})
    assert done.returncode == 0, done.stderr
    assert "E00" not in done.stdout + done.stderr


def test_manage_check_fail_level_warning_catches_an_old_rclone(remote: Path, tmp_path: Path) -> None:
    old = make_program(tmp_path / "bin", "rclone", 'echo "rclone v1.40.0"\n')
    settings = {"REMOTE": str(remote), "RCLONE_BINARY": str(old)}
    assert manage_check(settings).returncode == 0  # a warning does not fail by default
    done = manage_check(settings, "--fail-level", "WARNING")
    assert done.returncode == 1
    assert "django_rclone.W002" in done.stderr


def test_manage_check_reports_missing_tools(remote: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = manage_check({"REMOTE": str(remote)}, "--fail-level", "WARNING", path=str(empty))
    assert done.returncode == 1
    assert "django_rclone.W005" in done.stderr
    assert "'pg_dump'" in done.stderr
