"""A plain-SQL PostgreSQL backup is untrusted input: psql never runs a meta-command found in it.

A real ``pg_dump --format=plain`` backup on the remote gets psql meta-commands inserted the way
someone with write access to the bucket could, with its manifest forged to match. The restore
against the real server must fail, the marker file must not exist and the rows must be unchanged.
pg_restore (the custom format) has no client-side commands at all; the connector declares it
sandboxed.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.forge import forge, insert_before
from tests.plugins.postgres.data import change, populate, snapshot
from tests.plugins.postgres.test_roundtrip import PG_SQL, backup, restore, use

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

Settings = Callable[..., None]


def dump_key(data: bytes) -> bytes:
    """The key of pg_dump's own ``\\restrict`` line (pg_dump 13.22/14.19/15.14/16.10/17.6 and later)."""
    found = re.search(rb"^\\restrict (\S+)$", data, re.MULTILINE)
    assert found, "this pg_dump writes no \\restrict line"
    return found.group(1)


def without_dump_restrict(data: bytes) -> bytes:
    """The dump with pg_dump's own ``\\restrict`` line made a comment, as whoever edits it would."""
    return data.replace(b"\\restrict " + dump_key(data), b"-- restrict line removed")


def injections(marker: Path) -> dict[str, Callable[[bytes], bytes]]:
    m = str(marker).encode()
    commands = {
        "bang": b"\\! touch " + m,
        "output-pipe": b"\\o |touch " + m + b"\nSELECT 1;",
        "copy-to-file": b"\\copy (SELECT 1) TO '" + m + b"'",
        "mid-line": b"SELECT 1; \\! touch " + m,  # a meta-command after SQL on the same line
    }
    attacks: dict[str, Callable[[bytes], bytes]] = {
        name: lambda data, command=command: insert_before(without_dump_restrict(data), b"COPY ", command + b"\n")
        for name, command in commands.items()
    }
    # Or keep pg_dump's \restrict and leave it with its key, which is in the dump for anyone to read.
    attacks["dump-key"] = lambda data: insert_before(
        data, b"COPY ", b"\\unrestrict " + dump_key(data) + b"\n\\! touch " + m + b"\n"
    )
    return attacks


@pytest.mark.parametrize("attack", list(injections(Path("x"))))
def test_forged_plain_dump_with_a_meta_command_changes_nothing(
    pg_db: str, rclone_settings: Settings, remote: Path, tmp_path: Path, attack: str
) -> None:
    use(rclone_settings, PG_SQL)
    marker = tmp_path / f"pwned-{attack}"
    populate(pg_db)
    backup()
    forge(remote, injections(marker)[attack])
    change(pg_db)
    changed = snapshot(pg_db)
    with pytest.raises(CommandError):
        restore()
    assert not marker.exists(), f"the {attack} meta-command in the backup ran"
    assert snapshot(pg_db) == changed


def test_plain_dump_with_restrict_lines_still_restores(pg_db: str, rclone_settings: Settings, remote: Path) -> None:
    """pg_dump's own \\restrict / \\unrestrict lines do not break a restore in restricted mode, and
    data that looks like them (COPY rows, comments) comes back exactly."""
    use(rclone_settings, PG_SQL)
    populate(pg_db)
    from tests.testapp.models import Author

    Author.objects.using(pg_db).create(name="\\unrestrict x", bio="\n\\unrestrict y\n\\! touch /nonexistent\n")
    Author.objects.using(pg_db).create(name="\\restrict z", bio="-- \\unrestrict")
    before = snapshot(pg_db)
    backup()
    change(pg_db)
    err = io.StringIO()
    call_command("dbrestore", "-d", "postgres", "--noinput", stderr=err)
    assert snapshot(pg_db) == before
    assert "can run commands" not in err.getvalue()


def test_custom_format_restores_without_a_second_read(pg_db: str, rclone_settings: Settings) -> None:
    """pg_restore is declared sandboxed: no warning, no whole-stream check before the restore."""
    populate(pg_db)
    before = snapshot(pg_db)
    backup()
    change(pg_db)
    err = io.StringIO()
    call_command("dbrestore", "-d", "postgres", "--noinput", stderr=err)
    assert snapshot(pg_db) == before
    assert "can run commands" not in err.getvalue()


@pytest.fixture
def psql_without_restrict(tmp_path: Path) -> str:
    """The real psql behind a wrapper that reports a version without ``\\restrict`` (15.13)."""
    real = shutil.which("psql")
    assert real, "psql is not installed"
    wrapper = tmp_path / "old-psql"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = --version ]; then echo "psql (PostgreSQL) 15.13"; exit 0; fi\nexec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


def test_psql_without_restrict_gets_only_a_verified_backup(
    pg_db: str, rclone_settings: Settings, remote: Path, psql_without_restrict: str
) -> None:
    """Same size, wrong checksum, a shell escape on line 2 of a dump larger than every buffer on the
    way: the whole backup is checked before psql receives a byte, so the escape never runs."""
    use(rclone_settings, PG_SQL, RESTORE_CMD=psql_without_restrict)
    populate(pg_db, notes=1000, note_size=10_000)
    backup()
    [obj] = [p for p in remote.rglob("*.sql") if p.is_file()]
    marker = Path(tempfile.mkdtemp(prefix="m", dir="/tmp")) / "p"  # short: it replaces a 28-byte line
    data = obj.read_bytes()
    key_line = b"\\restrict " + dump_key(data)
    data = data.replace(key_line, b"--" + b" " * (len(key_line) - 2), 1)
    comment = b"-- PostgreSQL database dump\n"
    command = b"\\! touch " + str(marker).encode()
    assert len(command) < len(comment)
    obj.write_bytes(data.replace(comment, command + b" " * (len(comment) - len(command) - 1) + b"\n", 1))
    change(pg_db)
    changed = snapshot(pg_db)
    try:
        with pytest.raises(CommandError) as refused:
            restore()
        assert not marker.exists(), "psql ran a command from a backup that failed its checksum"
    finally:
        shutil.rmtree(marker.parent, ignore_errors=True)
    assert "checked before restoring" in str(refused.value)
    assert snapshot(pg_db) == changed


def test_psql_without_restrict_restores_with_a_warning(
    pg_db: str, rclone_settings: Settings, psql_without_restrict: str
) -> None:
    use(rclone_settings, PG_SQL, RESTORE_CMD=psql_without_restrict)
    populate(pg_db)
    before = snapshot(pg_db)
    backup()
    change(pg_db)
    err = io.StringIO()
    call_command("dbrestore", "-d", "postgres", "--noinput", stderr=err)
    assert snapshot(pg_db) == before
    assert "can run commands found in a backup" in err.getvalue()
