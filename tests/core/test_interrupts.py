"""SIGINT / SIGTERM during a backup or restore, against a real ``manage.py``-style process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.core.conftest import CONNECTOR, pids_alive, remote_files

ROOT = Path(__file__).parents[2]
MANAGE = (
    "import sys, django; django.setup(); from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', *sys.argv[1:]])"
)


def start(args: list[str], rclone: dict[str, object]) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "DJANGO_RCLONE_TEST_SETTINGS_JSON": json.dumps(rclone),
    }
    return subprocess.Popen(
        [sys.executable, "-c", MANAGE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the stand-in to start")


def settings_for(remote: Path, dump: list[str], restore: list[str]) -> dict[str, object]:
    return {
        "REMOTE": str(remote),
        "CONNECTORS": {"default": {"CONNECTOR": CONNECTOR, "DUMP_ARGS": dump, "RESTORE_ARGS": restore}},
    }


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupted_backup_stops_children_and_publishes_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    remote, pidfile = tmp_path / "remote", tmp_path / "pids"
    proc = start(
        ["dbbackup"],
        settings_for(remote, ["--size", "5000000", "--hang-after", "200000", "--pidfile", str(pidfile)], []),
    )
    wait_for(lambda: pidfile.exists() and any(remote.rglob("*")) if remote.exists() else False)
    time.sleep(0.3)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    lines = err.strip().splitlines()
    assert lines == [f"CommandError: interrupted by {sig.name}; child processes stopped, nothing was published"]
    wait_for(lambda: not pids_alive(pidfile), timeout=10)
    assert [f for f in remote_files(remote) if f.startswith("db/")] == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupted_restore_stops_children_and_commits_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    remote, pidfile, out = tmp_path / "remote", tmp_path / "pids", tmp_path / "restored.bin"
    done = start(["dbbackup"], settings_for(remote, ["--size", "3000000"], []))
    assert done.wait(timeout=60) == 0, done.stderr.read() if done.stderr else ""
    proc = start(
        ["dbrestore", "--noinput"],
        settings_for(remote, [], ["--out", str(out), "--hang-after", "100000", "--pidfile", str(pidfile)]),
    )
    wait_for(pidfile.exists)
    time.sleep(0.5)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert (
        err.strip().splitlines()[-1]
        == f"CommandError: interrupted by {sig.name}; child processes stopped, nothing was published"
    )
    wait_for(lambda: not pids_alive(pidfile), timeout=10)
    assert not out.exists()
