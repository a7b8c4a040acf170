"""A mongodump archive that exited 0 but is cut short, or whose tool reported a failure, is refused.

The stand-in mongodump writes an archive-shaped stream (magic number first, terminator last); the
real plugin, core pipeline and rclone run, and ``tests/standins/cut.py`` (as ``DUMP_PREFIX``)
removes the end of the stream or adds a failure to stderr while keeping exit status 0.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from django_rclone.api import backup, list_backups
from django_rclone.exceptions import IncompleteDump
from tests.plugins.mongodb.conftest import ALIAS, StandinTools

pytestmark = pytest.mark.usefixtures("no_stray_processes")

CUT = [sys.executable, str(Path(__file__).parents[2] / "standins" / "cut.py")]
Configure = Callable[..., dict[str, Any]]


def nothing_listed(remote: Path) -> None:
    assert list_backups(ALIAS) == []
    assert not [p for p in remote.rglob("*") if p.is_file()]


def test_a_complete_archive_is_committed(mongo_alias: Configure, standin_tools: StandinTools, remote: Path) -> None:
    mongo_alias()
    result = backup(ALIAS)
    assert result.size == standin_tools.size
    assert [entry.name for entry in list_backups(ALIAS)] == [result.name]


@pytest.mark.parametrize("drop", [4, 100_000], ids=["terminator", "last-blocks"])
def test_an_archive_cut_short_with_exit_status_0_is_refused(
    mongo_alias: Configure, standin_tools: StandinTools, remote: Path, drop: int
) -> None:
    mongo_alias(options={"DUMP_PREFIX": [*CUT, "--drop-last", str(drop), "--"]})
    with pytest.raises(IncompleteDump) as caught:
        backup(ALIAS)
    assert "mongodump (dump of database 'mongo') exited 0 but the archive does not end with its terminator" in str(
        caught.value
    )
    nothing_listed(remote)


def test_a_failure_on_stderr_fails_a_dump_that_exited_0(
    mongo_alias: Configure, standin_tools: StandinTools, remote: Path
) -> None:
    mongo_alias(options={"DUMP_PREFIX": [*CUT, "--stderr", "Failed: error reading collection: EOF", "--"]})
    with pytest.raises(IncompleteDump, match="reported an error: Failed: error reading collection: EOF"):
        backup(ALIAS)
    nothing_listed(remote)


def test_a_gzip_archive_is_checked_by_its_start(
    mongo_alias: Configure, standin_tools: StandinTools, remote: Path
) -> None:
    mongo_alias(options={"DUMP_PREFIX": [*CUT, "--gzip", "--"], "DUMP_SUFFIX": "--gzip"})
    result = backup(ALIAS)
    assert [entry.name for entry in list_backups(ALIAS)] == [result.name]


def test_a_gzip_stream_that_is_not_an_archive_is_refused(
    mongo_alias: Configure, standin_tools: StandinTools, remote: Path
) -> None:
    mongo_alias(options={"DUMP_PREFIX": [*CUT, "--gzip", "--", sys.executable, "-c", "print('not an archive')"]})
    with pytest.raises(IncompleteDump, match="not a gzip-compressed mongodump archive"):
        backup(ALIAS)
    nothing_listed(remote)
