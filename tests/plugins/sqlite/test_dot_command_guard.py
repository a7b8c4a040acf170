"""``DotCommandGuard`` on its own: a dot-command line is found wherever the stream is cut."""

from __future__ import annotations

import pytest

from django_rclone.exceptions import UnsafeBackup
from django_rclone_sqlite.connectors import DotCommandGuard


def refused(parts: list[bytes]) -> bool:
    guard = DotCommandGuard()
    try:
        for part in parts:
            guard.feed(memoryview(part))
    except UnsafeBackup:
        return True
    return False


@pytest.mark.parametrize(
    ("parts", "refuse"),
    [
        ([b"BEGIN;\nINSERT INTO t VALUES(1);\nCOMMIT;\n"], False),
        ([b"BEGIN;\n.shell id\n"], True),
        ([b".shell id\n"], True),
        ([b"BEGIN;\n  \t.shell id\n"], True),  # blanks first: refused whatever the shell's version does
        ([b"BEGIN;\n", b".shell id"], True),  # cut right before the dot
        ([b"BEGIN;\n  ", b"  ", b"\t.shell id"], True),  # blanks spread over chunks
        ([b"BEGIN; .x\n"], False),  # not at the start of a line
        ([b"BEGIN;\n  x", b".shell"], False),
        ([b"BEGIN;\n  x  ", b"  ", b".shell"], False),
        ([b"INSERT INTO t VALUES(replace('a\\n.shell id','\\n',char(10)));\n"], False),  # how .dump writes it
    ],
)
def test_dot_command_lines_are_refused_across_chunks(parts: list[bytes], refuse: bool) -> None:
    assert refused(parts) is refuse


def test_every_split_point_of_an_attack_is_caught() -> None:
    data = b"BEGIN;\nINSERT INTO t VALUES(1);\n.system touch /tmp/x\nCOMMIT;\n"
    for cut in range(1, len(data)):
        assert refused([data[:cut], data[cut:]]), cut
