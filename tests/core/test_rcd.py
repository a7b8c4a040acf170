"""The rclone daemon of a backup (``rcd.py``): the real ``rclone rcd`` answering the small calls as
separate rclone processes would, its lifetime (never past the run, nor past this process), and
every failure of it ending like a failed rclone process: nothing listable, nothing left running.
Faults come from a proxy in front of the real daemon (``tests/standins/rcd.py``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from django_rclone import rcd, signals
from django_rclone.exceptions import DjangoRcloneError, FileTooLarge, RcloneError
from django_rclone.operations.backup import backup
from django_rclone.operations.restore import restore
from django_rclone.rclone import Rclone
from tests.core.conftest import REAL_RCLONE, pids_alive, remote_files, settings_for, start, wait_for

pytestmark = pytest.mark.usefixtures("no_stray_processes")

STANDIN_RCD = Path(__file__).parents[1] / "standins" / "rcd.py"


@pytest.fixture
def proxied(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """DJANGO_RCLONE for a local remote whose daemon is the stand-in proxy with ``rules``."""
    wrapper = tmp_path / "rclone-proxied"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN_RCD}" "$@"\n')
    wrapper.chmod(0o755)

    def settings(rules: str = "", **extra: Any) -> dict[str, Any]:
        env = {
            "STANDIN_RCLONE_REAL": REAL_RCLONE,
            "STANDIN_RCD_RULES": rules,
            "STANDIN_RCD_LOG": str(tmp_path / "rcd.log"),
            "STANDIN_RCD_HANG_MARK": str(tmp_path / "hung"),
        }
        return {"REMOTE": str(tmp_path / "remote"), "RCLONE_BINARY": str(wrapper), "RCLONE_ENV": env, **extra}

    return settings


def _group_alive(group: str) -> bool:
    """Whether a process of that process group still runs (zombies, which init reaps, do not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if pgrp == group and state != "Z":
            return True
    return False


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "rcd.log"
    return (
        [line.split()[1] for line in log.read_text().splitlines() if line.startswith("start")] if log.exists() else []
    )


@pytest.mark.parametrize(
    ("path", "split"),
    [
        ("/srv/backups/db/a.dump", ("/srv/backups/db/", "a.dump")),
        ("/a", ("/", "a")),
        ("relative/a", ("relative/", "a")),
        ("a", ("./", "a")),
        ("r:db/a", ("r:db/", "a")),
        ("r:a", ("r:", "a")),
        ("r:/abs/a", ("r:/abs/", "a")),
        (":s3,env_auth:bucket/db/a", (":s3,env_auth:bucket/db/", "a")),
        (":local:/tmp/a", (":local:/tmp/", "a")),
        ("./odd:name/a", ("./odd:name/", "a")),
        ("r:", None),
        (":sftp,host=h,key_file=/k/id:file", None),  # a slash in the options: not certain
        ("r,key_file=/k/id:db/a", None),
        ("/srv/odd:name/a", ("/srv/odd:name/", "a")),
        ("r:db/", None),
        (":s3,endpoint='http://h:1/x':b/a", None),  # quotes: left to rclone's own parser
        ('r,opt="a:b":c/d', None),
    ],
)
def test_paths_split_into_folder_and_name_or_are_left_to_a_process(path: str, split: tuple[str, str] | None) -> None:
    assert rcd.split(path) == split


def test_the_daemon_answers_as_separate_rclone_processes_do(tmp_path: Path) -> None:
    folder = tmp_path / "remote" / "db"
    plain = Rclone(daemon=False)
    served = Rclone()
    with rcd.session(served):
        assert rcd.current(served) is not None
        for rclone, name in ((plain, "one.bin"), (served, "two.bin")):
            rclone.rcat_bytes(str(folder / name), b"\x00payload\xff")
        assert (folder / "one.bin").read_bytes() == (folder / "two.bin").read_bytes() == b"\x00payload\xff"
        (folder / "sub").mkdir()
        (folder / "sub" / "deep.bin").write_bytes(b"x")
        for path in (folder / "one.bin", folder / "missing", folder / "sub", tmp_path / "nowhere" / "x"):
            assert served.stat(str(path)) == plain.stat(str(path)), path
        keys = ("Path", "Name", "Size", "IsDir", "ModTime")
        for options in ({}, {"recursive": True}, {"files_only": False}):
            listed = [{k: r[k] for k in keys} for r in served.lsjson(str(folder), **options)]
            assert listed == [{k: r[k] for k in keys} for r in plain.lsjson(str(folder), **options)], options
        assert served.lsjson(str(tmp_path / "nowhere")) == plain.lsjson(str(tmp_path / "nowhere")) == []
        served.deletefile(str(folder / "two.bin"))
        assert not (folder / "two.bin").exists()
        with pytest.raises(RcloneError, match="not found") as caught:
            served.deletefile(str(folder / "two.bin"))
        assert "exit status" not in str(caught.value)
        with pytest.raises(RcloneError, match="not found"):
            plain.deletefile(str(folder / "two.bin"))
        # Small reads: bounded, and a folder under the name is refused without being read.
        assert served.cat_bytes(str(folder / "one.bin")) == plain.cat_bytes(str(folder / "one.bin"))
        for rclone in (served, plain):
            with pytest.raises(RcloneError, match="not found"):
                rclone.cat_bytes(str(folder / "missing.json"))
            with pytest.raises(FileTooLarge):
                rclone.cat_bytes(str(folder / "one.bin"), limit=5)
        (folder / "sub" / "more.bin").write_bytes(b"y" * 5000)
        with pytest.raises(RcloneError, match="directory"):
            served.cat_bytes(str(folder / "sub"))


def test_the_daemon_listens_privately_lives_as_long_as_the_outermost_session(tmp_path: Path) -> None:
    rclone = Rclone()
    with rcd.session(rclone):
        daemon = rcd.current(rclone)
        assert daemon is not None
        assert daemon._proc is not None
        assert os.stat(daemon.folder).st_mode & 0o777 == 0o700
        anonymous = rcd._Connection(daemon.socket)  # the socket alone is not enough: a password is
        anonymous.request("POST", "/operations/list", json.dumps({"fs": str(tmp_path), "remote": ""}))
        assert anonymous.getresponse().status == 401
        anonymous.close()
        with rcd.session(rclone):  # a restore's undo backup: the same daemon
            assert rcd.current(rclone) is daemon
        assert rcd.current(rclone) is daemon
        group = daemon._proc.pid
    assert rcd.current(rclone) is None
    assert not os.path.exists(daemon.folder)
    wait_for(lambda: not _group_alive(str(group)), timeout=1)  # SIGKILLed: gone within the moment


def test_other_threads_stay_out_of_a_session_unless_given_its_context(tmp_path: Path) -> None:
    """A web request's thread reading the catalog while a backup runs makes its own rclone calls:
    it never depends on a daemon the backup stops."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    rclone = Rclone()
    with rcd.session(rclone), ThreadPoolExecutor(1) as pool:
        assert rcd.current(rclone) is not None
        assert pool.submit(rcd.current, rclone).result() is None
        assert pool.submit(contextvars.copy_context().run, rcd.current, rclone).result() is rcd.current(rclone)


def test_a_fork_during_a_session_leaves_the_daemon_to_the_parent(tmp_path: Path) -> None:
    rclone = Rclone()
    with rcd.session(rclone):
        daemon = rcd.current(rclone)
        assert daemon is not None
        assert daemon._proc is not None
        group = str(daemon._proc.pid)
        child = os.fork()
        if child == 0:  # pragma: no cover - the child's exit status is the assertion
            unseen = rcd.current(rclone) is None and not rcd._live
            daemon.stop()  # what leaving the session's block in the child does: lets go only
            os._exit(0 if unseen and os.path.exists(daemon.socket) else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child saw the parent's daemon"
        rclone.stat(str(tmp_path / "x"))  # the parent's daemon still serves it
        assert rcd.current(rclone) is daemon
        clock = time.monotonic()
    assert time.monotonic() - clock < 3, "the child's copy of the watchdog pipe held the daemon"
    wait_for(lambda: not _group_alive(group), timeout=1)


def test_the_daemon_does_not_outlive_a_killed_process(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess\n"
        "from django_rclone import rcd\n"
        "from django_rclone.rclone import Rclone\n"
        "rclone = Rclone()\n"
        "with rcd.session(rclone):\n"
        f"    rclone.stat({str(tmp_path / 'x')!r})\n"
        "    group = rcd.current(rclone)._proc.pid\n"
        "    found = subprocess.run(['pgrep', '-g', str(group)], capture_output=True, text=True).stdout\n"
        f"    open({str(pids)!r}, 'w').write(found)\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2], timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert len(pids.read_text().split()) >= 2  # the watchdog shell and rclone, at least
    wait_for(lambda: not pids_alive(pids), timeout=10)


def test_rc_flags_of_the_user_or_the_setting_turn_the_daemon_off(tmp_path: Path) -> None:
    for rclone in (Rclone(daemon=False), Rclone(flags=("--rc",)), Rclone(flags=("--rc-addr=:5572",))):
        with rcd.session(rclone):
            assert rcd.current(rclone) is None
        assert not rcd._live


def test_a_backup_runs_its_small_calls_through_the_daemon(
    sqlite_db: str, tmp_path: Path, proxied: Callable[..., dict[str, Any]]
) -> None:
    with override_settings(DJANGO_RCLONE=proxied()):
        done = backup(sqlite_db)
    assert remote_files(tmp_path / "remote") == [f"db/{done.name}", f"db/{done.name}.manifest.json"]
    calls = _calls(tmp_path)
    # noop (readiness), the marker and the claim's listing, the landing check, the manifest and
    # its read-back (served by the daemon's --rc-serve: a GET, which the proxy logs as its path),
    # the marker's removal.
    assert calls[0] == "rc/noop"
    assert calls.count("operations/uploadfile") == 2
    assert calls.count("serve") == 1
    assert calls.count("operations/deletefile") == 1
    assert "operations/stat" in calls
    assert "operations/list" in calls


def test_a_daemon_that_cannot_start_leaves_every_call_to_a_process(sqlite_db: str, tmp_path: Path) -> None:
    refusing = tmp_path / "rclone-no-rcd"
    refusing.write_text(f'#!/bin/sh\n[ "$*" != "${{*#*rcd}}" ] && exit 1\nexec "{REAL_RCLONE}" "$@"\n')
    refusing.chmod(0o755)
    with override_settings(DJANGO_RCLONE={"REMOTE": str(tmp_path / "remote"), "RCLONE_BINARY": str(refusing)}):
        done = backup(sqlite_db)
        restore(sqlite_db, input_path=done.name, undo_backup=False)
    assert remote_files(tmp_path / "remote") == [f"db/{done.name}", f"db/{done.name}.manifest.json"]


@pytest.mark.parametrize("rule", ["operations/uploadfile~.pending=fail", "operations/list=fail"])
def test_a_claim_the_daemon_fails_starts_no_dump_and_leaves_nothing(
    sqlite_db: str, tmp_path: Path, proxied: Callable[..., dict[str, Any]], rule: str
) -> None:
    with override_settings(DJANGO_RCLONE=proxied(rule)), pytest.raises(DjangoRcloneError, match="no space left"):
        backup(sqlite_db)
    assert remote_files(tmp_path / "remote") == []


@pytest.fixture
def kill_daemon_at() -> Iterator[Callable[[str], None]]:
    """Kill the running daemon (its whole process group) when the named moment of a backup comes."""
    receivers: list[tuple[Any, Callable[..., None]]] = []

    def kill(**_: Any) -> None:
        for daemon in list(rcd._live):
            assert daemon.available()  # listening: the kill comes between two calls
            assert daemon._proc is not None
            os.killpg(daemon._proc.pid, signal.SIGKILL)
            daemon._proc.wait()
            wait_for(lambda group=str(daemon._proc.pid): not _group_alive(group), timeout=5)

    def at(moment: str) -> None:
        signal_ = signals.pre_db_backup if moment == "before the claim" else signals.post_db_backup
        signal_.connect(kill, weak=False)
        receivers.append((signal_, kill))

    yield at
    for signal_, receiver in receivers:
        signal_.disconnect(receiver)


def test_a_daemon_killed_between_two_calls_leaves_the_rest_to_processes(
    sqlite_db: str, tmp_path: Path, proxied: Callable[..., dict[str, Any]], kill_daemon_at: Callable[[str], None]
) -> None:
    """A call that cannot reach the daemon never reached it: it runs as a process instead, and so
    do the calls after it. The backup completes."""
    kill_daemon_at("before the claim")
    with override_settings(DJANGO_RCLONE=proxied()):
        done = backup(sqlite_db)
    assert remote_files(tmp_path / "remote") == [f"db/{done.name}", f"db/{done.name}.manifest.json"]
    assert _calls(tmp_path) == ["rc/noop"]  # everything after the kill was a process


@pytest.mark.parametrize(
    "rule",
    ["serve~manifest=truncate", "operations/stat=die"],
    ids=["read-cut-short", "dies-at-the-landing-check"],
)
def test_a_daemon_that_fails_mid_call_fails_the_backup_and_the_clean_up_leaves_nothing(
    sqlite_db: str, tmp_path: Path, proxied: Callable[..., dict[str, Any]], rule: str
) -> None:
    """The daemon sends half of the manifest it reads back and closes the connection, or dies at
    the landing check (after the upload). Either is a failed rclone call: the backup fails, and the
    discard, through separate processes, removes the object and the marker. A short read is never
    a short manifest (which would read as another run's, and leave the backup in place)."""
    with override_settings(DJANGO_RCLONE=proxied(rule)), pytest.raises(RcloneError, match="stopped answering"):
        backup(sqlite_db)
    assert remote_files(tmp_path / "remote") == []


def test_a_backup_interrupted_during_a_daemon_call_leaves_nothing(
    tmp_path: Path, proxied: Callable[..., dict[str, Any]]
) -> None:
    """SIGINT while the claim's listing hangs in the daemon: the command stops as interrupted, the
    dump never started, the marker is removed, and the daemon goes with the run."""
    remote, pidfile, hung = tmp_path / "remote", tmp_path / "pids", tmp_path / "hung"
    conf = {
        **settings_for(remote, ["--size", "5000000", "--pidfile", str(pidfile)], []),
        **{k: v for k, v in proxied("operations/list=hang").items() if k != "REMOTE"},
    }
    proc = start(["dbbackup"], conf)
    wait_for(hung.exists, timeout=60)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert err.strip().splitlines()[-1].startswith("CommandError: interrupted by SIGINT")
    assert not pidfile.exists(), "the dump tool started before the name was claimed"
    assert [f for f in remote_files(remote) if f.startswith("db/")] == []
    leftovers = subprocess.run(["pgrep", "-f", str(STANDIN_RCD)], capture_output=True, text=True).stdout
    assert leftovers == "", "the daemon outlived the interrupted command"


def test_no_usable_temporary_folder_leaves_every_call_to_a_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No temporary folder (unwritable, full), or one whose path is too long for a unix socket:
    the run goes on with a process per call."""
    import tempfile

    rclone = Rclone()
    target = tmp_path / "x"
    target.write_bytes(b"x")

    def no_folder(**_: Any) -> str:
        raise OSError(28, "No space left on device")

    long_folder = tmp_path / ("d" * 100)
    long_folder.mkdir()
    real_mkdtemp = tempfile.mkdtemp
    for mkdtemp in (no_folder, lambda **_: real_mkdtemp(dir=long_folder)):
        monkeypatch.setattr(rcd.tempfile, "mkdtemp", mkdtemp)
        with rcd.session(rclone):
            assert rcd.current(rclone) is None
            assert rclone.stat(str(target)) is not None
        assert not rcd._live
    assert list(long_folder.iterdir()) == []  # the folder made for the socket was removed
