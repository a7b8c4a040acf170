"""A MySQL/MariaDB backup is untrusted input: the client never runs a command found in it.

A real dump on the remote gets client commands (``\\!``, ``system``, ``tee``) inserted the way
someone with write access to the bucket could, with its manifest forged to match. The restore must
fail against the real MariaDB server, the marker file must not exist and the rows must be unchanged.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.forge import forge, insert_before
from tests.plugins.mysql.test_roundtrip import ALIAS, populate, snapshot
from tests.testapp.models import Author, Note

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

pytestmark = [pytest.mark.mysql, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]


def without_dump_sandbox(data: bytes) -> bytes:
    """MariaDB 10.11.8+ dump tools start a dump with a comment that turns the client's sandbox on;
    whoever alters a backup removes it first."""
    return b"\n".join(line for line in data.split(b"\n") if b"enable the sandbox mode" not in line)


def injections(marker: Path) -> dict[str, Callable[[bytes], bytes]]:
    m = str(marker).encode()
    commands = {"bang": b"\\! touch " + m, "system": b"system touch " + m, "tee": b"tee " + m}
    return {
        name: lambda data, command=command: insert_before(without_dump_sandbox(data), b"INSERT INTO", command + b"\n")
        for name, command in commands.items()
    }


@pytest.mark.parametrize("attack", list(injections(Path("x"))))
def test_forged_backup_with_a_client_command_changes_nothing(
    mysql_db: str, remote: Path, tmp_path: Path, attack: str
) -> None:
    marker = tmp_path / f"pwned-{attack}"
    populate()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    forge(remote, injections(marker)[attack])
    Author.objects.using(ALIAS).create(name="Carol")
    Note.objects.using(ALIAS).all().delete()
    changed = snapshot()
    with pytest.raises(CommandError):
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert not marker.exists(), f"the {attack} command in the backup ran"
    assert snapshot() == changed


def same_size_attack(data: bytes, command: bytes) -> bytes:
    """The dump's first line (the comment that turns the client's sandbox on) replaced by
    ``command``, padded to the same size: the remote's size check passes, only the checksum can tell."""
    first, newline, rest = data.partition(b"\n")
    assert b"enable the sandbox mode" in first
    assert len(command) <= len(first)
    return command + b" " * (len(first) - len(command)) + newline + rest


@pytest.fixture
def client_without_sandbox(tmp_path: Path) -> str:
    """The real client behind a wrapper whose --help does not list --sandbox (an older client)."""
    real = shutil.which("mariadb") or shutil.which("mysql")
    assert real, "the MariaDB client is not installed"
    wrapper = tmp_path / "old-mysql-client"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = --help ]; then echo "Usage: mysql [OPTIONS]"; exit 0; fi\nexec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    return str(wrapper)


def test_client_without_sandbox_gets_only_a_verified_backup(
    mysql_db: str, rclone_settings: Callable[..., None], remote: Path, tmp_path: Path, client_without_sandbox: str
) -> None:
    """Without --sandbox the whole backup is checked before the client receives a byte: a backup
    altered without a matching manifest never reaches it (here: a dump larger than every buffer on
    the way, whose first command would run as soon as the client read it)."""
    rclone_settings(CONNECTORS={ALIAS: {"RESTORE_CMD": client_without_sandbox}})
    marker = Path(tempfile.mkdtemp(prefix="m", dir="/tmp")) / "p"  # short: it replaces a 39-byte line
    populate()
    Note.objects.using(ALIAS).bulk_create(Note(text="y" * 10_000) for _ in range(1000))
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    [obj] = [p for p in remote.rglob("*.sql") if p.is_file()]
    obj.write_bytes(same_size_attack(obj.read_bytes(), b"system touch " + str(marker).encode()))
    Author.objects.using(ALIAS).create(name="Carol")
    changed = snapshot()
    try:
        with pytest.raises(CommandError) as refused:
            call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
        assert not marker.exists(), "the client ran a command from a backup that failed its checksum"
    finally:
        shutil.rmtree(marker.parent, ignore_errors=True)
    assert "checked before restoring" in str(refused.value)
    assert snapshot() == changed


def test_client_without_sandbox_restores_with_a_warning(
    mysql_db: str, rclone_settings: Callable[..., None], client_without_sandbox: str
) -> None:
    rclone_settings(CONNECTORS={ALIAS: {"RESTORE_CMD": client_without_sandbox}})
    populate()
    before = snapshot()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    Note.objects.using(ALIAS).all().delete()
    err = io.StringIO()
    call_command("dbrestore", "--database", ALIAS, "--noinput", stderr=err)
    assert snapshot() == before
    assert "can run commands found in a backup" in err.getvalue()
    assert "checked against its manifest before restoring" in err.getvalue()


def test_load_data_local_cannot_read_this_machines_files(
    mysql_db: str, rclone_settings: Callable[..., None], remote: Path, tmp_path: Path
) -> None:
    """``LOAD DATA LOCAL INFILE`` appended to a forged dump would copy a file of the restoring
    machine into the database; the client runs with --local-infile=0 even when an option file
    (here the user's own ``read_default_file``) turns it on."""
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret from the restoring machine\n")
    own_options = tmp_path / "my.cnf"
    own_options.write_text("[mysql]\nlocal-infile=1\n")  # read by the client only
    from django.conf import settings

    options = {**settings.DATABASES[ALIAS].get("OPTIONS", {}), "read_default_file": str(own_options)}
    rclone_settings(CONNECTORS={ALIAS: {"OPTIONS": options}})
    populate()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    load = f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE testapp_note (text);\n".encode()
    forge(remote, lambda data: without_dump_sandbox(data) + load)
    with contextlib.suppress(CommandError):
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert not Note.objects.using(ALIAS).filter(text__contains="top secret").exists()
