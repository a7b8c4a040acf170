"""The fixed cost of a backup and a restore: which rclone processes each one starts, and that the
independent ones run side by side (issue #17). Every rclone start costs about 50 ms whatever the
size of the database, so on a small one these starts are most of the time a command takes.

The rclone here is the real one behind a logging wrapper (which records each start and end, and
makes listings slow so that two reads that overlap are seen to).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from django.test import override_settings

from django_rclone import rclone as rclone_module
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.names import MANIFEST_SUFFIX
from django_rclone.operations.backup import backup
from django_rclone.operations.restore import restore
from django_rclone.rclone import Rclone
from tests.core.conftest import REAL_RCLONE

pytestmark = pytest.mark.usefixtures("no_stray_processes")

#: Seconds each lsjson waits before it runs: two listings that overlap then overlap by this much.
SLOW_LISTING = 0.4


def _logging_rclone(tmp_path: Path) -> tuple[Path, Path]:
    """A wrapper around the real rclone that appends ``start|end <action> <time>`` lines to a log."""
    log = tmp_path / "rclone.log"
    wrapper = tmp_path / "rclone-logging"
    wrapper.write_text(
        "#!/bin/bash\n"
        f'echo "start $1 $(date +%s.%N)" >> {log}\n'
        f'[ "$1" = lsjson ] && sleep {SLOW_LISTING}\n'
        f'"{REAL_RCLONE}" "$@"; status=$?\n'
        f'echo "end $1 $(date +%s.%N)" >> {log}\n'
        "exit $status\n"
    )
    wrapper.chmod(0o755)
    return wrapper, log


def _runs(log: Path) -> list[tuple[str, float, float]]:
    """(action, start, end) of every rclone run, in the order they started."""
    starts: dict[str, list[float]] = {}
    runs = []
    for line in log.read_text().splitlines():
        edge, action, moment = line.split()
        if edge == "start":
            starts.setdefault(action, []).append(float(moment))
        else:
            runs.append((action, starts[action].pop(0), float(moment)))
    # The daemon is stopped with its whole process group, so its wrapper never logs an end.
    runs += [("rcd", start, float("inf")) for start in starts.pop("rcd", [])]
    assert not any(starts.values()), f"rclone runs that never ended: {starts}"
    return sorted(runs, key=lambda run: run[1])


def _overlap(a: tuple[str, float, float], b: tuple[str, float, float]) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def test_a_backup_sends_its_small_calls_to_one_rclone_daemon(sqlite_db: str, tmp_path: Path) -> None:
    wrapper, log = _logging_rclone(tmp_path)
    with override_settings(DJANGO_RCLONE={"REMOTE": str(tmp_path / "remote"), "RCLONE_BINARY": str(wrapper)}):
        done = backup(sqlite_db)
        # version (once per binary and process), the daemon and the upload; the marker, the
        # listings, the object's record, the manifest, its read-back and the marker's removal were
        # calls to the daemon.
        assert Counter(action for action, _, _ in _runs(log)) == Counter({"version": 1, "rcd": 1, "rcat": 1})
        assert not rclone_module.rcd._live, "the daemon outlived its backup"
    remote = tmp_path / "remote" / "db"
    assert sorted(p.name for p in remote.iterdir()) == [done.name, done.name + MANIFEST_SUFFIX]  # no marker left


def test_backup_and_restore_start_only_the_rclone_runs_they_need(sqlite_db: str, tmp_path: Path) -> None:
    """Without the daemon (RCLONE_DAEMON off): a process per call, the independent ones side by side."""
    wrapper, log = _logging_rclone(tmp_path)
    conf = {"REMOTE": str(tmp_path / "remote"), "RCLONE_BINARY": str(wrapper), "RCLONE_DAEMON": False}
    with override_settings(DJANGO_RCLONE=conf):
        done = backup(sqlite_db)
        runs = _runs(log)
        # version (once per binary and process), the name claim (marker, listing), the upload, the
        # landing check (the object's record and a listing, side by side), the manifest and its
        # read-back, and the marker's removal: nine starts, seven one after the other.
        assert Counter(action for action, _, _ in runs) == Counter(
            {"version": 1, "rcat": 3, "lsjson": 3, "cat": 1, "deletefile": 1}
        )
        stat, listing = (run for run in runs if run[0] == "lsjson" and run[1] > runs[3][1])
        assert _overlap(stat, listing), "the landing check's two reads ran one after the other"

        log.unlink()
        restore(sqlite_db, input_path=done.name, undo_backup=False)
        runs = _runs(log)
        # The object's record, the manifest's record and the manifest's bytes side by side, then the stream.
        assert sorted(action for action, _, _ in runs[:3]) == ["cat", "lsjson", "lsjson"]
        assert [action for action, _, _ in runs[3:]] == ["cat"]
        assert all(_overlap(a, b) for a in runs[:3] for b in runs[:3] if a is not b), (
            "the object's record and the manifest's record and bytes were read one after the other"
        )
        assert runs[3][1] >= max(end for _, _, end in runs[:3]), "the stream began before the manifest was read"

        log.unlink()
        backup(sqlite_db)  # the same process: rclone's version is known now
        assert "version" not in [action for action, _, _ in _runs(log)]


def test_the_version_check_overlaps_plugin_loading_and_stops_with_a_failure(tmp_path: Path) -> None:
    wrapper, log = _logging_rclone(tmp_path)
    rclone = Rclone(binary=str(wrapper))
    with pytest.raises(RuntimeError, match="resolution failed"), rclone.checked_meanwhile():
        raise RuntimeError("resolution failed")
    assert not rclone_module._PENDING_VERSIONS  # killed and reaped: no_stray_processes checks the rest
    with rclone.checked_meanwhile():
        pass
    assert rclone.version().startswith("rclone v")
    assert [action for action, _, _ in _runs(log)].count("version") == 1


def test_a_binary_that_is_not_rclone_is_refused_before_any_rclone_run(sqlite_db: str, tmp_path: Path) -> None:
    impostor = tmp_path / "rclone"
    log = tmp_path / "calls.log"
    impostor.write_text(f'#!/bin/sh\necho "$1" >> {log}\necho "hello"\n')
    impostor.chmod(0o755)
    conf = {"REMOTE": str(tmp_path / "remote"), "RCLONE_BINARY": str(impostor)}
    with override_settings(DJANGO_RCLONE=conf), pytest.raises(DjangoRcloneError, match="is not rclone"):
        backup(sqlite_db)
    assert log.read_text().split() == ["version"]
    assert not (tmp_path / "remote").exists()


def _logging_sqlite3(tmp_path: Path, log: Path) -> Path:
    """A DUMP_CMD that records the moment the dump tool starts (as a zero-length run), then runs sqlite3."""
    wrapper = tmp_path / "sqlite3-logging"
    wrapper.write_text(
        "#!/bin/bash\n"
        '[ "$1" = -version ] && exec sqlite3 "$@"\n'  # the tool version the manifest records
        f'now=$(date +%s.%N)\necho "start dump $now" >> {log}\necho "end dump $now" >> {log}\n'
        'exec sqlite3 "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def test_the_dump_tool_starts_only_once_the_name_is_claimed(sqlite_db: str, tmp_path: Path) -> None:
    """Starting the dump beside the claim saved about 50 ms on a PostgreSQL backup, but a dump (or a
    connector's background work) started for a name that then could not be claimed has to be undone,
    and some cannot be (see docs/performance.md): the dump starts after the claim's listing."""
    rclone, log = _logging_rclone(tmp_path)
    conf = {
        "REMOTE": str(tmp_path / "remote"),
        "RCLONE_BINARY": str(rclone),
        "RCLONE_DAEMON": False,  # each call a process, so the log shows when the claim's listing ended
        "CONNECTORS": {sqlite_db: {"DUMP_CMD": str(_logging_sqlite3(tmp_path, log))}},
    }
    with override_settings(DJANGO_RCLONE=conf):
        backup(sqlite_db)
    runs = _runs(log)
    (dump,) = (run for run in runs if run[0] == "dump")
    claim_listing = next(run for run in runs if run[0] == "lsjson")
    assert dump[1] >= claim_listing[2], "the dump tool started before the name was claimed"


@pytest.mark.parametrize("failure", ["taken", "marker"])
def test_a_name_that_cannot_be_claimed_never_starts_the_dump(sqlite_db: str, tmp_path: Path, failure: str) -> None:
    log = tmp_path / "dump.log"
    rclone = tmp_path / "rclone-markers"  # refuses to write run markers in the "marker" case
    refuse = "rcat*.pending*" if failure == "marker" else "no-such-call"
    rclone.write_text(
        f'#!/bin/bash\ncase "$1 $*" in {refuse}) echo "no space left" >&2; exit 3;; esac\nexec "{REAL_RCLONE}" "$@"\n'
    )
    rclone.chmod(0o755)
    conf = {
        "REMOTE": str(tmp_path / "remote"),
        "RCLONE_BINARY": str(rclone),
        "RCLONE_DAEMON": False,  # the wrapper refuses the marker's own rcat process
        "CONNECTORS": {sqlite_db: {"DUMP_CMD": str(_logging_sqlite3(tmp_path, log))}},
        "COMPRESSION": "none",
    }
    stored = b""
    with override_settings(DJANGO_RCLONE=conf):
        if failure == "taken":
            backup(sqlite_db, output_filename="fixed.sqlite3")
            stored = (tmp_path / "remote" / "db" / "fixed.sqlite3").read_bytes()
            log.unlink()
        with pytest.raises(DjangoRcloneError, match="already exists" if failure == "taken" else "no space left"):
            backup(sqlite_db, output_filename="fixed.sqlite3")
    assert not log.exists() or "dump" not in [action for action, _, _ in _runs(log)]
    files = sorted(p.name for p in (tmp_path / "remote").rglob("*") if p.is_file())
    if failure == "taken":  # the first run's backup is untouched, and no marker is left
        assert (tmp_path / "remote" / "db" / "fixed.sqlite3").read_bytes() == stored
        assert files == ["fixed.sqlite3", "fixed.sqlite3" + MANIFEST_SUFFIX]
    else:
        assert files == []
