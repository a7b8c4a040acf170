"""The dump-completeness contract and the never-deadlocking pipeline, with real processes and rclone.

- ``BaseConnector.check_dump(sample)`` and the ``django_rclone_check_dump`` hook: a third-party
  connector (or plugin) refuses a dump that exited 0; the command fails and nothing is listed.
- ``StreamSample``: what the check receives is the real head, tail, size and stderr of the dump.
- Connectors written like the 0.1.0 example (every pipe a PIPE) never hang a backup or a restore.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_rclone import hookimpl
from django_rclone.api import list_backups
from django_rclone.exceptions import IncompleteDump
from django_rclone.plugins import get_host, reset_host
from django_rclone.sample import StreamSample
from tests.core.custom_connectors import TrailerConnector

pytestmark = pytest.mark.usefixtures("no_stray_processes")

CHATTY = "tests.core.custom_connectors.ChattyConnector"
TRAILER = "tests.core.custom_connectors.TrailerConnector"
DUMP = b"row\n" * 75000 + b"-- END\n"


def db_files(remote: Path) -> list[Path]:
    return [p for p in (remote / "db").rglob("*") if p.is_file()] if (remote / "db").exists() else []


@pytest.mark.timeout(60)
def test_connector_like_the_010_example_with_every_pipe_a_pipe_never_hangs(
    remote: Path, rclone_settings: Callable[..., None], tmp_path: Path
) -> None:
    out = tmp_path / "restored.bin"
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": CHATTY, "OUT": str(out)}})
    call_command("dbbackup", verbosity=0)  # the dump reads its stdin (a pipe) to EOF first
    [entry] = list_backups()
    assert entry.manifest is not None
    assert entry.manifest.uncompressed_size == len(DUMP)  # the stored size is after the zstd stage
    call_command("dbrestore", "--noinput", verbosity=0)  # the restore writes 1 MB to its stdout pipe
    assert out.read_bytes() == DUMP


@pytest.mark.timeout(60)
def test_a_restore_tool_reporting_only_on_stdout_is_quoted(
    remote: Path, rclone_settings: Callable[..., None], tmp_path: Path
) -> None:
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": CHATTY, "OUT": str(tmp_path / "missing" / "out.bin")}})
    call_command("dbbackup", verbosity=0)
    with pytest.raises(CommandError) as caught:
        call_command("dbrestore", "--noinput", verbosity=0)
    assert "exited with status 1" in str(caught.value)
    assert "No such file or directory" in str(caught.value)  # its stderr, drained beside the stdout


@pytest.fixture
def trailer(remote: Path, rclone_settings: Callable[..., None], tmp_path: Path) -> Callable[..., None]:
    TrailerConnector.SAMPLES.clear()

    def configure(**options: object) -> None:
        rclone_settings(CONNECTORS={"default": {"CONNECTOR": TRAILER, "OUT": str(tmp_path / "out.bin"), **options}})

    return configure


def test_third_party_check_dump_refuses_an_incomplete_dump(trailer: Callable[..., None], remote: Path) -> None:
    trailer(DROP_TRAILER=True)
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    message = str(caught.value)
    assert message.startswith("python")
    assert "(dump of database 'default') exited 0 but its output has no '-- END' trailer" in message
    assert "nothing was published" in message
    assert list_backups() == []
    assert db_files(remote) == []


def test_check_dump_sees_the_real_head_tail_size_and_stderr(trailer: Callable[..., None], remote: Path) -> None:
    trailer()
    call_command("dbbackup", verbosity=0)
    [sample] = TrailerConnector.SAMPLES
    assert sample.size == len(DUMP)
    assert sample.whole
    assert sample.head == DUMP
    assert sample.tail == DUMP[-sample.tail_size :]
    assert sample.stderr == "." * (64 * 1024 - 1) + "\n"  # the last 64 KiB of 1 MB of stderr
    [entry] = list_backups()
    assert entry.manifest is not None
    assert entry.manifest.uncompressed_size == len(DUMP)  # the stored size is after the zstd stage


class RefuseEverything:
    """A plugin adding its own check to every connector through the hook."""

    @hookimpl
    def django_rclone_check_dump(self, connector: object, database: str, sample: StreamSample) -> None:
        raise IncompleteDump(f"refused by policy ({sample.size} bytes of {database})")


@pytest.fixture
def refusing_plugin() -> Iterator[None]:
    reset_host()
    get_host().register(RefuseEverything(), name="refuse-everything")
    yield
    reset_host()


def test_a_plugin_can_check_dumps_of_connectors_it_does_not_own(
    refusing_plugin: None, trailer: Callable[..., None], remote: Path
) -> None:
    trailer()
    with pytest.raises(CommandError) as caught:
        call_command("dbbackup", verbosity=0)
    assert f"refused by policy ({len(DUMP)} bytes of default)" in str(caught.value)
    assert list_backups() == []
    assert db_files(remote) == []


def test_stream_sample_keeps_a_bounded_head_and_tail() -> None:
    sample = StreamSample(head_size=10, tail_size=4)
    data = bytes(range(100))
    for start in range(0, 100, 7):
        sample.feed(memoryview(data)[start : start + 7])
    assert (sample.head, sample.tail, sample.size, sample.whole) == (data[:10], data[-4:], 100, False)
    big = StreamSample(head_size=10, tail_size=4)
    big.feed(data)
    assert (big.head, big.tail) == (data[:10], data[-4:])
