"""SIGINT / SIGTERM during a backup or restore, against a real ``manage.py``-style process."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_rclone import interrupts
from django_rclone.exceptions import Interrupted
from django_rclone.interrupts import interruptible
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
    conf = {
        **settings_for(remote, ["--size", "5000000", "--pidfile", str(pidfile)], []),
        "RCLONE_BINARY": str(slow),
        "RCLONE_DAEMON": False,  # the claim's own rclone processes (the daemon's case: test_rcd.py)
    }
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
    conf = settings_for(
        remote,
        [],
        [],
        connector="tests.standins.connector.SlowEstimateStandinConnector",
        ESTIMATING=str(estimating),
        SWALLOW=swallow,
    )
    proc = start_python(PROGRESS_BACKUP, conf)
    wait_for(estimating.exists)
    assert [f for f in remote_files(remote) if ".pending" in f], "the name was not claimed before the estimate"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0, err
    assert "Interrupted: interrupted by SIGINT" in err
    assert [f for f in remote_files(remote) if f.startswith("db/")] == []


def test_an_interrupt_that_connector_code_swallows_after_the_upload_still_stops_the_commit(tmp_path: Path) -> None:
    """The dump and the upload are done; the connector's ``dump_finished()`` catches the Ctrl-C. The
    backup must still not write its manifest: it fails, and what it uploaded is removed."""
    remote, finishing = tmp_path / "remote", tmp_path / "finishing"
    conf = settings_for(
        remote, [], [], connector="tests.standins.connector.SwallowingFinishStandinConnector", FINISHING=str(finishing)
    )
    proc = start(["dbbackup"], conf)
    wait_for(finishing.exists)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, err
    assert err.strip().splitlines() == [
        "CommandError: interrupted by SIGINT; child processes stopped, nothing was published"
    ]
    assert [f for f in remote_files(remote) if f.startswith("db/")] == []


def test_an_interrupted_verify_stops_the_run_as_interrupted(tmp_path: Path) -> None:
    """Ctrl-C while ``verifybackups`` reads a backup stops the run as interrupted; it used to be
    caught as that backup's failed check ("1 of 1 backup(s) failed verification"), and with more
    aliases the run went on to read the next ones."""
    remote, slow_pid = tmp_path / "remote", tmp_path / "slow.pid"
    conf = settings_for(remote, ["--size", "100000"], [])
    backup_done = start(["dbbackup"], conf)
    assert backup_done.wait(timeout=60) == 0, backup_done.communicate()
    slow = tmp_path / "rclone-slow-cat"  # reading the backup object (not the manifests) takes long
    slow.write_text(
        f'#!/bin/bash\nif [ "$1" = cat ] && [[ "$*" != *manifest.json* ]]; then echo $$ > {slow_pid}; sleep 30; fi\n'
        f'exec "{REAL_RCLONE}" "$@"\n'
    )
    slow.chmod(0o755)
    proc = start(["verifybackups"], {**conf, "RCLONE_BINARY": str(slow)})
    wait_for(slow_pid.exists)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert err.strip().splitlines()[-1].startswith("CommandError: interrupted by SIGINT"), err
    wait_for(lambda: not pids_alive(slow_pid), timeout=10)


@pytest.mark.usefixtures("no_stray_processes")
def test_a_signal_while_the_processes_start_stops_them_once_supervised(
    rclone_settings: Callable[..., None], remote: Path
) -> None:
    """A Ctrl-C that lands while the dump tool has started but is not yet under the pipeline's
    supervision is held back (``interrupts.deferred``) and raised once it is: the tool and rclone
    are stopped and nothing is uploaded. Raised at once, it left the dump tool running."""
    rclone_settings(
        COMPRESSION="none",
        CONNECTORS={"default": {"CONNECTOR": "tests.standins.connector.SignalledWhileStartingStandinConnector"}},
    )
    with pytest.raises(CommandError, match="interrupted by SIGINT"):
        call_command("dbbackup", verbosity=0)
    assert [f for f in remote_files(remote) if f.startswith("db/")] == []


# -- the guard's own state, in this process ----------------------------------------------------


def _interrupted(sig: signal.Signals, then: Callable[[], None] = lambda: None, swallow: bool = False) -> None:
    """Inside ``interruptible()``: signal this process, wait for it, then call ``then``."""
    with interruptible():
        try:
            os.kill(os.getpid(), sig)
            time.sleep(5)
        except Interrupted:
            if not swallow:
                then()
                raise
        then()


def test_an_interrupted_block_leaves_no_state_for_the_next_operation() -> None:
    with pytest.raises(Interrupted):
        _interrupted(signal.SIGINT)
    with interruptible():
        interrupts.check()  # a later operation in the same process is not interrupted by the old signal
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _deferred_then_resumed(reached: list[str]) -> None:
    with interruptible(), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        reached.append("after the signal")  # not raised while deferred
        interrupts.resume()
        reached.append("after resume")


def test_deferred_holds_a_signal_back_until_resume() -> None:
    reached: list[str] = []
    with pytest.raises(Interrupted, match="SIGTERM"):
        _deferred_then_resumed(reached)
    assert reached == ["after the signal"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_swallowed_interrupt_is_raised_again_by_check() -> None:
    with pytest.raises(Interrupted):
        _interrupted(signal.SIGINT, then=interrupts.check, swallow=True)  # careless code caught the first


def test_check_does_nothing_outside_the_main_thread() -> None:
    seen: list[BaseException | None] = []

    def worker() -> None:
        try:
            interrupts.check()
            seen.append(None)
        except BaseException as exc:  # recorded for the assertion below
            seen.append(exc)

    def in_a_thread() -> None:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()

    with pytest.raises(Interrupted):
        _interrupted(signal.SIGINT, then=in_a_thread)
    assert seen == [None]
