"""A SQLite backup is untrusted input: restoring it never runs a command found in it.

Each test alters a real ``.dump`` on the remote the way someone with write access to the bucket
could, forges the manifest to match (so the checksum passes), and restores with the real sqlite3
shell. The command must fail, the marker file the injected command would create must not exist,
and the live database must be exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.forge import forge, insert_before, replace_line
from tests.plugins.sqlite.test_roundtrip import populate, snapshot
from tests.testapp.models import Author, Note

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = pytest.mark.usefixtures("no_stray_processes")


def injections(marker: Path) -> dict[str, Callable[[bytes], bytes]]:
    m = str(marker).encode()
    return {
        # The reproduction: an early INSERT line replaced by a shell escape.
        "shell": lambda data: replace_line(data, b"INSERT INTO", b".shell touch " + m),
        "system": lambda data: replace_line(data, b"INSERT INTO", b".system touch " + m),
        # -safe in sqlite3 3.40 lets .trace open a file: the guard refuses every dot-command line.
        "trace": lambda data: insert_before(data, b"INSERT INTO", b".trace " + m + b"\n"),
        "output": lambda data: insert_before(data, b"INSERT INTO", b".output " + m + b"\n"),
        # SQL that writes files: refused by sqlite3 -safe.
        "attach": lambda data: insert_before(
            data, b"INSERT INTO", b"ATTACH '" + m + b"' AS evil; CREATE TABLE evil.t(a);\n"
        ),
        "writefile": lambda data: insert_before(data, b"INSERT INTO", b"SELECT writefile('" + m + b"', 'x');\n"),
    }


@pytest.mark.parametrize("attack", list(injections(Path("x"))))
def test_forged_backup_with_a_command_changes_nothing(
    sqlite_db: str, remote: Path, tmp_path: Path, attack: str
) -> None:
    marker = tmp_path / f"pwned-{attack}"
    populate()
    call_command("dbbackup", verbosity=0)
    forge(remote, injections(marker)[attack])
    Author.objects.create(name="Carol")
    Note.objects.all().delete()
    changed = snapshot()
    with pytest.raises(CommandError):
        call_command("dbrestore", "--noinput", verbosity=0)
    assert not marker.exists(), f"the {attack} command in the backup ran"
    assert snapshot() == changed


def test_same_length_edit_without_forged_manifest_runs_nothing(sqlite_db: str, remote: Path, tmp_path: Path) -> None:
    """The issue's exact case: refused by the checksum, but the shell used to run it on the way
    (the pipeline holds back only the last chunk; the dump is larger than every buffer on the way)."""
    marker = tmp_path / "x"
    populate()
    Note.objects.bulk_create(Note(text="y" * 10_000) for _ in range(1000))  # 10 MB: more than the pipes hold
    call_command("dbbackup", verbosity=0)
    [obj] = [p for p in remote.rglob("*.sqlite3") if p.is_file()]
    data = obj.read_bytes()
    line = next(x for x in data.split(b"\n") if x.startswith(b"INSERT INTO"))
    command = b".shell id > " + str(marker).encode()
    assert len(command) <= len(line)
    obj.write_bytes(data.replace(line, command + b" " * (len(line) - len(command)), 1))
    changed = snapshot()
    with pytest.raises(CommandError) as refused:
        call_command("dbrestore", "--noinput", verbosity=0)
    assert not marker.exists(), "the shell ran the command before the checksum refused the backup"
    assert "sqlite3 shell command" in str(refused.value)
    assert snapshot() == changed


def test_text_that_looks_like_a_command_round_trips(sqlite_db: str, remote: Path) -> None:
    """.dump escapes newlines in strings, so data with '\\n.shell' lines is no dot-command."""
    populate()
    Author.objects.create(name="Dot", bio="first\n.shell touch /nonexistent/x\n.trace /nonexistent/y\n")
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    Author.objects.all().delete()
    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == before
