"""The fault matrix: every injected fault x {backup, restore}, through the real pipeline.

Each case asserts the exit (CommandError), the message (root cause and its stderr), what is left on
the remote, and that no child process is left running.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.core.conftest import remote_files

pytestmark = pytest.mark.usefixtures("no_stray_processes")

SIZE = 300_000


def backup_objects(remote: Path) -> list[str]:
    return [f for f in remote_files(remote) if f.startswith("db/")]


# -- backup ---------------------------------------------------------------------------------------

BACKUP_FAULTS = [
    pytest.param(
        ["--fail-after", "0"],
        "standin-dump: simulated failure after 0 bytes",
        "exited with status 1",
        id="dump-fails-at-start",
    ),
    pytest.param(
        ["--fail-after", "100000"],
        "simulated failure after 100000 bytes",
        "exited with status 1",
        id="dump-fails-midway",
    ),
    pytest.param(
        ["--fail-after", str(SIZE), "--exit-code", "3"],
        f"simulated failure after {SIZE} bytes",
        "exited with status 3",
        id="dump-fails-at-end",
    ),
    pytest.param(["--kill-after", "100000"], "", "was killed by SIGKILL", id="dump-killed-midway"),
]


@pytest.mark.parametrize(("dump_args", "stderr", "status"), BACKUP_FAULTS)
def test_backup_fault_leaves_nothing(
    standin: Callable[..., Path], remote: Path, dump_args: list[str], stderr: str, status: str
) -> None:
    standin(dump=["--size", str(SIZE), *dump_args])
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    message = str(caught.value)
    assert "dump of database 'default'" in message
    assert status in message
    assert stderr in message
    assert "rclone" not in message.split(":")[0]  # the root cause is the dump, not the upload
    assert backup_objects(remote) == []


def test_backup_rclone_dies_midway_names_rclone(
    standin: Callable[..., Path], remote: Path, fake_rclone: Callable[[str], str]
) -> None:
    standin(dump=["--size", "3000000"], RCLONE_BINARY=fake_rclone("rcat:100000"))
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    message = str(caught.value)
    assert message.startswith("rclone rcat")
    assert "connection to remote lost after 100000 bytes" in message
    assert backup_objects(remote) == []


def _release_what_the_run_dropped(failure: BaseException) -> None:
    """Drop the failed run's frames and free what they held: a pipe the run left open closes now, so
    a process still running would see end of input (rcat would upload, a restore tool commit), and
    gets a second to do so before the test looks."""
    failure.__traceback__ = None
    gc.collect()
    time.sleep(1.0)


def test_a_connector_error_before_streaming_stops_both_processes_and_uploads_nothing(
    standin: Callable[..., Path], rclone_settings: Callable[..., None], remote: Path
) -> None:
    """The dump tool and ``rclone rcat`` are running before the pipeline takes charge of them; a
    failure in that gap (here a connector's invalid ``dump_report`` pattern) must stop both, and
    rcat must never see end of input: it would upload the empty object after the run gave up."""
    standin(dump=["--size", str(SIZE)])
    rclone_settings(
        CONNECTORS={"default": {"CONNECTOR": "tests.standins.connector.BadReportStandinConnector"}},
        COMPRESSION="none",
    )
    with pytest.raises(re.error) as caught:  # the connector's own bug, as it raised it
        call_command("dbbackup", verbosity=0)
    _release_what_the_run_dropped(caught.value)
    assert backup_objects(remote) == []


def test_a_dump_started_without_a_stdout_pipe_is_a_clear_error(
    standin: Callable[..., Path], rclone_settings: Callable[..., None], remote: Path
) -> None:
    standin(dump=["--size", str(SIZE)])
    rclone_settings(
        CONNECTORS={"default": {"CONNECTOR": "tests.standins.connector.NoPipeStandinConnector"}}, COMPRESSION="none"
    )
    with pytest.raises(CommandError, match=r"was started without a pipe on its stdout \(pass stdout=subprocess.PIPE\)"):
        call_command("dbbackup", verbosity=0)
    assert backup_objects(remote) == []


def test_backup_remote_unreachable(standin: Callable[..., Path], rclone_settings: Callable[..., None]) -> None:
    standin()
    rclone_settings(
        REMOTE=":s3,provider=Other,endpoint='http://127.0.0.1:9',env_auth=false:bucket",
        RCLONE_FLAGS=["--retries", "1", "--low-level-retries", "1", "--contimeout", "2s"],
        CONNECTORS={"default": {"CONNECTOR": "tests.standins.connector.StandinConnector"}},
    )
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    message = str(caught.value)
    assert message.startswith("rclone ")
    assert "connection refused" in message
    assert "DJANGO_RCLONE" not in message


def test_backup_success_publishes_data_and_manifest(
    standin: Callable[..., Path], remote: Path, expected_payload: Callable[[int], bytes]
) -> None:
    standin(dump=["--size", str(SIZE)])
    call_command("dbbackup", verbosity=0)
    files = backup_objects(remote)
    assert len(files) == 2
    data = next(f for f in files if not f.endswith(".manifest.json"))
    assert files == [data, data + ".manifest.json"]
    assert (remote / data).read_bytes() == expected_payload(SIZE)


# -- restore --------------------------------------------------------------------------------------


@pytest.fixture
def backed_up(standin: Callable[..., Path], remote: Path) -> Callable[..., Path]:
    """Make one good backup, then reconfigure the stand-in for the restore under test."""
    standin(dump=["--size", str(SIZE)])
    call_command("dbbackup", verbosity=0)

    def reconfigure(restore: list[str] | None = None, **keys: object) -> Path:
        return standin(dump=["--size", str(SIZE)], restore=restore, **keys)

    return reconfigure


def data_object(remote: Path) -> Path:
    return next(remote / f for f in backup_objects(remote) if not f.endswith(".manifest.json"))


def test_restore_success_delivers_every_byte(
    backed_up: Callable[..., Path], expected_payload: Callable[[int], bytes]
) -> None:
    out = backed_up()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert out.read_bytes() == expected_payload(SIZE)


@pytest.mark.parametrize("fail_after", ["1", "100000"], ids=["at-start", "midway"])
def test_restore_tool_fails(backed_up: Callable[..., Path], fail_after: str) -> None:
    out = backed_up(restore=["--fail-after", fail_after])
    with pytest.raises(CommandError) as caught:
        call_command("dbrestore", "--noinput", verbosity=0)
    message = str(caught.value)
    assert "restore of database 'default'" in message
    assert "standin-restore: simulated failure" in message
    assert not out.exists()


def test_restore_rclone_cat_dies_midway_tool_never_commits(
    backed_up: Callable[..., Path], fake_rclone: Callable[[str], str]
) -> None:
    out = backed_up(RCLONE_BINARY=fake_rclone("cat:100000"))
    with pytest.raises(CommandError) as caught:
        call_command("dbrestore", "--noinput", verbosity=0)
    assert str(caught.value).startswith("rclone cat")
    assert "read error after 100000 bytes" in str(caught.value)
    assert not out.exists()


def test_restore_corrupted_object_is_refused_before_commit(backed_up: Callable[..., Path], remote: Path) -> None:
    out = backed_up()
    obj = data_object(remote)
    raw = bytearray(obj.read_bytes())
    raw[SIZE // 2] ^= 0xFF
    obj.write_bytes(bytes(raw))
    with pytest.raises(CommandError) as caught:
        call_command("dbrestore", "--noinput", verbosity=0)
    assert "does not match its manifest" in str(caught.value)
    assert not out.exists()


def test_restore_truncated_object_is_refused_up_front(backed_up: Callable[..., Path], remote: Path) -> None:
    out = backed_up()
    obj = data_object(remote)
    obj.write_bytes(obj.read_bytes()[: SIZE - 10])
    with pytest.raises(CommandError) as caught:
        call_command("dbrestore", "--noinput", verbosity=0)
    assert f"{SIZE - 10} bytes on the remote but its manifest says {SIZE}" in str(caught.value)
    assert not out.exists()


def test_skip_verify_restores_a_corrupted_object_with_a_warning(
    backed_up: Callable[..., Path], remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = backed_up()
    obj = data_object(remote)
    raw = bytearray(obj.read_bytes())
    raw[0] ^= 0xFF
    obj.write_bytes(bytes(raw))
    call_command("dbrestore", "--noinput", "--skip-verify")
    assert out.read_bytes() == bytes(raw)
    assert "verification skipped" in capsys.readouterr().err


def test_backup_without_manifest_restores_unverified_as_latest_and_by_name(
    backed_up: Callable[..., Path],
    remote: Path,
    capsys: pytest.CaptureFixture[str],
    expected_payload: Callable[[int], bytes],
) -> None:
    # No manifest and no run marker: a backup made elsewhere (0.1.0, copied by hand), not an orphan.
    out = backed_up()
    obj = data_object(remote)
    Path(str(obj) + ".manifest.json").unlink()
    call_command("dbrestore", "--noinput")
    assert out.read_bytes() == expected_payload(SIZE)
    assert "has no manifest" in capsys.readouterr().err
    out.unlink()
    call_command("dbrestore", "--noinput", "--input-path", obj.name)
    assert out.read_bytes() == expected_payload(SIZE)
    assert "has no manifest" in capsys.readouterr().err


def test_a_connector_error_before_restoring_stops_the_tool_before_it_sees_end_of_input(
    backed_up: Callable[..., Path], rclone_settings: Callable[..., None]
) -> None:
    """The restore tool and ``rclone cat`` run before the pipeline takes charge of them; a failure in
    that gap (here a connector's ``tool_label`` raising) stops the tool first: closing its input
    would be the end of input that makes it commit."""
    out = backed_up()
    connector = {
        "CONNECTOR": "tests.standins.connector.BadRestoreLabelStandinConnector",
        "RESTORE_ARGS": ["--out", str(out)],
    }
    rclone_settings(CONNECTORS={"default": connector})
    with pytest.raises(RuntimeError, match="label lookup failed") as caught:
        call_command("dbrestore", "--noinput", "--no-undo-backup", "--force", verbosity=0)
    _release_what_the_run_dropped(caught.value)
    assert not out.exists(), "the restore tool committed after the run failed"
