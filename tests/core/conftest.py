"""Fixtures for fault injection: stand-in tools wired through the real pipeline and real rclone."""

from __future__ import annotations

import shutil
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.standins.dump import payload

STANDINS = Path(__file__).parent.parent / "standins"
CONNECTOR = "tests.standins.connector.StandinConnector"


def remote_files(remote: Path) -> list[str]:
    """Every file on the local-folder remote, relative and sorted."""
    return sorted(str(p.relative_to(remote)) for p in remote.rglob("*") if p.is_file())


@pytest.fixture
def standin(rclone_settings: Callable[..., None], tmp_path: Path) -> Callable[..., Path]:
    """Route the ``default`` alias through the stand-in connector; returns the restore output path."""
    out = tmp_path / "restored.bin"

    def configure(dump: list[str] | None = None, restore: list[str] | None = None, **keys: Any) -> Path:
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
    real = shutil.which("rclone") or str(Path(sys.executable).parent / "rclone")
    wrapper = tmp_path / "rclone-standin"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDINS / "rclone.py"} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("STANDIN_RCLONE_REAL", real)

    def fail(spec: str) -> str:
        monkeypatch.setenv("STANDIN_RCLONE_FAIL", spec)
        return str(wrapper)

    return fail


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
