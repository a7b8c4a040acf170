"""SIGINT / SIGTERM during a backup or restore, against a real ``manage.py``-style process."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from tests.core.conftest import REAL_RCLONE, pids_alive, remote_files, settings_for, start, start_python, wait_for


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
        # No undo backup: this is about the restore's stand-in, and on a loaded machine the extra
        # backup first could outlast wait_for (interruption with it on: tests/e2e, tests/plugins/mysql).
        ["dbrestore", "--noinput", "--no-undo-backup"],
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


def test_an_interrupted_restore_never_gives_the_tool_end_of_input(tmp_path: Path) -> None:
    """The tool is stopped before its input is closed: end of input is what makes a restore tool
    commit (psql --single-transaction, the stand-in), so closing first could commit half a backup.
    The stand-in ignores SIGTERM and waits for more bytes from a hung `rclone cat`; only SIGKILL may
    end it, never end of input."""
    import os

    remote, pidfile, out, mark = tmp_path / "remote", tmp_path / "pids", tmp_path / "restored.bin", tmp_path / "hung"
    done = start(["dbbackup"], settings_for(remote, ["--size", "3000000"], []))
    assert done.wait(timeout=60) == 0, done.stderr.read() if done.stderr else ""
    wrapper = tmp_path / "rclone-standin"
    wrapper.write_text(
        f'#!/bin/sh\nexec {sys.executable} {Path(__file__).parents[1] / "standins" / "rclone.py"} "$@"\n'
    )
    wrapper.chmod(0o755)
    settings = settings_for(remote, [], ["--out", str(out), "--pidfile", str(pidfile), "--ignore-sigterm"])
    settings["RCLONE_BINARY"] = str(wrapper)
    os.environ.update(
        STANDIN_RCLONE_REAL=REAL_RCLONE, STANDIN_RCLONE_FAIL="cat-hang:100000", STANDIN_RCLONE_HANG_MARK=str(mark)
    )
    try:
        proc = start(["dbrestore", "--noinput", "--no-undo-backup"], settings)
    finally:
        for key in ("STANDIN_RCLONE_REAL", "STANDIN_RCLONE_FAIL", "STANDIN_RCLONE_HANG_MARK"):
            os.environ.pop(key, None)
    wait_for(lambda: pidfile.exists() and mark.exists(), timeout=60)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert err.strip().splitlines()[-1].startswith("CommandError: interrupted by SIGINT")
    wait_for(lambda: not pids_alive(pidfile), timeout=20)
    assert not out.exists(), "the restore tool saw end of input and committed a partial backup"


@pytest.mark.parametrize("slow_step", ["rcat*.pending*", "lsjson*"], ids=["marker", "listing"])
def test_a_backup_interrupted_while_claiming_its_name_leaves_nothing(tmp_path: Path, slow_step: str) -> None:
    """An interrupt during the claim (the marker's write, or the listing after it) stops that rclone
    run, starts no dump, and removes the run's marker (it used to wait for the next sweep)."""
    remote, pidfile, slow_pid = tmp_path / "remote", tmp_path / "pids", tmp_path / "slow.pid"
    slow = tmp_path / "rclone-slow-claim"  # that step of the claim takes long enough to interrupt
    slow.write_text(
        f'#!/bin/bash\ncase "$1 $*" in {slow_step}) echo $$ > {slow_pid}; exec sleep 30;; esac\n'
        f'exec "{REAL_RCLONE}" "$@"\n'
    )
    slow.chmod(0o755)
    conf = {**settings_for(remote, ["--size", "5000000", "--pidfile", str(pidfile)], []), "RCLONE_BINARY": str(slow)}
    proc = start(["dbbackup"], conf)
    wait_for(slow_pid.exists)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert err.strip().splitlines() == [
        "CommandError: interrupted by SIGINT; child processes stopped, nothing was published"
    ]
    assert not pidfile.exists(), "the dump tool started before the name was claimed"
    wait_for(lambda: not pids_alive(slow_pid), timeout=10)  # the slow rclone run was stopped
    assert [f for f in remote_files(remote) if f.startswith("db/")] == []


PROGRESS_BACKUP = (
    "import django; django.setup()\n"
    "from django_rclone import progress\n"
    "from django_rclone.operations.backup import backup\n"
    "class Display:\n"
    "    def update(self, done): pass\n"
    "    def expect(self, total, estimated=False): pass\n"
    "with progress.reporting(Display()):\n"
    "    backup('default')\n"
)


@pytest.mark.parametrize("swallow", [False, True], ids=["raised", "swallowed-by-the-connector"])
def test_a_backup_interrupted_after_claiming_its_name_leaves_nothing(tmp_path: Path, swallow: bool) -> None:
    """The name is claimed (its marker is on the remote) and a progress display asks the connector
    for a size estimate, which can take seconds: an interrupt there stops the backup and removes
    the marker at once, even when the connector's code catches the exception itself."""
    remote, estimating = tmp_path / "remote", tmp_path / "estimating"
    conf = {
        "REMOTE": str(remote),
        "COMPRESSION": "none",
        "CONNECTORS": {
            "default": {
                "CONNECTOR": "tests.standins.connector.SlowEstimateStandinConnector",
                "ESTIMATING": str(estimating),
                "SWALLOW": swallow,
            }
        },
    }
    proc = start_python(PROGRESS_BACKUP, conf)
    wait_for(estimating.exists)
    assert [f for f in remote_files(remote) if ".pending" in f], "the name was not claimed before the estimate"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0, err
    assert "Interrupted: interrupted by SIGINT" in err
    assert [f for f in remote_files(remote) if f.startswith("db/")] == []
