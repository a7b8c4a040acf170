"""A failed, refused or interrupted MySQL/MariaDB restore leaves the live database exactly as it was.

Every case backs up real rows, changes them, then breaks the restore half-way through the stream
(after some tables were already restored): the live rows must equal the changed rows, and no
``<db>__rclone_*`` scratch database may be left on the server.
"""

from __future__ import annotations

import re
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.core.conftest import fake_rclone, start, wait_for
from tests.plugins.mysql.test_roundtrip import ALIAS, populate, run_sql, snapshot
from tests.servers.mariadb import DATABASE, LIVE_ONLY_USER, SHADOWS, MariaDB
from tests.testapp.models import Author, Note

#: These tests read or alter the stored bytes of a backup: store them uncompressed.
DJANGO_RCLONE_DEFAULTS = {"COMPRESSION": "none"}

__all__ = ["fake_rclone"]  # the fault-injecting rclone fixture of the core tests

pytestmark = [pytest.mark.mysql, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

#: ~6 MB of note rows after the author and book tables: a fault in the middle lands far from the
#: end, so on a plain restore the tables before it would already be replaced.
NOTES = 600


def shadows(server: MariaDB) -> list[str]:
    return [name for name in server.databases() if "__rclone_" in name]


def backed_up_then_changed(remote: Path) -> tuple[Path, list[Any]]:
    """Rows backed up, then changed in every table the dump writes before and after the notes;
    returns the backup object and the changed rows (what every failed restore must leave)."""
    populate()
    Note.objects.using(ALIAS).bulk_create([Note(text=f"{n:04d} " + "n" * 10_000) for n in range(NOTES)])
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    (backup,) = list(remote.rglob("*.sql"))
    Author.objects.using(ALIAS).filter(name="Ada").update(name="Ada (changed)")
    Author.objects.using(ALIAS).create(name="Carol")
    Note.objects.using(ALIAS).filter(text__startswith="0007").delete()
    return backup, snapshot()


def mid_note(data: bytes) -> int:
    """An offset inside the notes' data, well after the author table was restored."""
    return data.index(b"0300 nnnn")


def past_the_authors(server: MariaDB) -> bool:
    """Whether a restore has written the author table (into a shadow, or into the live database)."""
    if Author.objects.using(ALIAS).filter(name="Ada").exists():
        return True
    found = shadows(server)
    return bool(found) and "testapp_book" in server.sql(f"SHOW TABLES FROM `{found[0]}`").split()


def assert_unchanged(changed: list[Any], server: MariaDB) -> None:
    assert snapshot() == changed
    assert shadows(server) == []


def test_altered_row_fails_the_checksum_and_changes_nothing(
    mysql_db: str, remote: Path, mariadb_server: MariaDB
) -> None:
    backup, changed = backed_up_then_changed(remote)
    data = bytearray(backup.read_bytes())
    data[mid_note(data) + 6] = ord("X")  # still valid SQL: a different row value
    backup.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="does not match its manifest"):
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert_unchanged(changed, mariadb_server)


def test_invalid_statement_mid_stream_changes_nothing(mysql_db: str, remote: Path, mariadb_server: MariaDB) -> None:
    backup, changed = backed_up_then_changed(remote)
    data = backup.read_bytes()
    at = data.index(b"INSERT INTO `testapp_note`")
    data = data[:at] + b"INSERT INTO `testapp_nope`" + data[at + len(b"INSERT INTO `testapp_note`") :]
    backup.write_bytes(data)
    with pytest.raises(CommandError, match="testapp_nope") as caught:
        call_command("dbrestore", "--database", ALIAS, "--noinput", "--skip-verify", verbosity=0)
    assert "\n" not in str(caught.value).strip().splitlines()[0]
    assert_unchanged(changed, mariadb_server)


def test_rclone_dying_mid_restore_changes_nothing(
    mysql_db: str, remote: Path, mariadb_server: MariaDB, rclone_settings: Any, fake_rclone: Callable[[str], str]
) -> None:
    backup, changed = backed_up_then_changed(remote)
    rclone_settings(RCLONE_BINARY=fake_rclone(f"cat:{mid_note(backup.read_bytes())}"))
    with pytest.raises(CommandError, match=r"^rclone cat.*read error after"):
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert_unchanged(changed, mariadb_server)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_restore_changes_nothing(
    mysql_db: str,
    remote: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mariadb_server: MariaDB,
    fake_rclone: Callable[[str], str],
    sig: signal.Signals,
) -> None:
    backup, changed = backed_up_then_changed(remote)
    wrapper = fake_rclone(f"cat-hang:{mid_note(backup.read_bytes())}")
    mark = tmp_path / "hanging"
    monkeypatch.setenv("STANDIN_RCLONE_HANG_MARK", str(mark))
    proc = start(["dbrestore", "-d", ALIAS, "--noinput"], {"REMOTE": str(remote), "RCLONE_BINARY": wrapper})
    wait_for(mark.exists, timeout=120)
    time.sleep(1.0)  # the client works through what it received: the author table is restored
    assert past_the_authors(mariadb_server)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert err.strip().splitlines()[-1] == (
        f"CommandError: interrupted by {sig.name}; child processes stopped, nothing was published"
    )
    assert_unchanged(changed, mariadb_server)


def test_missing_privilege_is_refused_before_anything(
    mysql_db: str, remote: Path, mariadb_server: MariaDB, rclone_settings: Any
) -> None:
    from tests import settings as test_settings

    _backup, changed = backed_up_then_changed(remote)
    rclone_settings(CONNECTORS={ALIAS: {"USER": LIVE_ONLY_USER, "PASSWORD": test_settings.DB_PASSWORD}})
    with pytest.raises(CommandError) as caught:
        call_command("dbrestore", "--database", ALIAS, "--noinput", "--no-undo-backup", verbosity=0)
    message = str(caught.value)
    assert "\n" not in message
    assert "ERROR 1044" in message
    assert "shadow database" in message
    assert "GRANT ALL PRIVILEGES ON `rclone\\_test\\_\\_rclone\\_%`.*" in message
    assert "ATOMIC_RESTORE" in message
    assert "Nothing was changed" in message
    assert_unchanged(changed, mariadb_server)


def test_non_atomic_opt_in_checks_the_whole_backup_first(
    mysql_db: str, remote: Path, mariadb_server: MariaDB, rclone_settings: Any
) -> None:
    from tests import settings as test_settings

    backup, changed = backed_up_then_changed(remote)
    good = backup.read_bytes()
    rclone_settings(
        CONNECTORS={ALIAS: {"USER": LIVE_ONLY_USER, "PASSWORD": test_settings.DB_PASSWORD, "ATOMIC_RESTORE": False}}
    )
    data = bytearray(good)
    data[mid_note(data) + 6] = ord("X")
    backup.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="checked before restoring"):
        call_command("dbrestore", "--database", ALIAS, "--noinput", "--no-undo-backup", verbosity=0)
    assert_unchanged(changed, mariadb_server)
    backup.write_bytes(good)
    call_command("dbrestore", "--database", ALIAS, "--noinput", "--no-undo-backup", verbosity=0)
    assert snapshot() != changed
    assert Author.objects.using(ALIAS).filter(name="Ada").exists()


def test_kept_table_foreign_key_points_at_the_new_table(
    mysql_db: str, remote: Path, mariadb_server: MariaDB, rclone_settings: Any
) -> None:
    """A table left out of the backup keeps referencing the restored table, not the replaced one."""
    rclone_settings(CONNECTORS={ALIAS: {"EXCLUDE": ["testapp_book"]}})
    populate()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    query = (
        "SELECT REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA = 'rclone_test' AND TABLE_NAME = 'testapp_book' AND REFERENCED_TABLE_NAME IS NOT NULL"
    )
    (row,) = mariadb_server.sql(query).splitlines()
    assert row.split("\t") == [DATABASE, "testapp_author"]
    assert shadows(mariadb_server) == []


def test_views_are_restored_over_the_new_tables(mysql_db: str, remote: Path, mariadb_server: MariaDB) -> None:
    run_sql("CREATE OR REPLACE VIEW rclone_names AS SELECT name FROM testapp_author")
    try:
        populate()
        call_command("dbbackup", "--database", ALIAS, verbosity=0)
        run_sql("CREATE OR REPLACE VIEW rclone_names AS SELECT bio AS name FROM testapp_author")
        Author.objects.using(ALIAS).create(name="Carol")
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
        ((names,),) = run_sql("SELECT GROUP_CONCAT(name ORDER BY name) FROM rclone_names")
        assert names == "Ada,Bob"
    finally:
        run_sql("DROP VIEW IF EXISTS rclone_names")
    assert shadows(mariadb_server) == []


TRIGGER = "CREATE TRIGGER rclone_author_bi BEFORE INSERT ON testapp_author FOR EACH ROW SET NEW.bio = UPPER(NEW.bio)"


def triggers(server: MariaDB) -> list[str]:
    return server.sql(
        f"SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{DATABASE}'"  # noqa: S608
    ).split()


def test_live_triggers_are_replaced_by_the_backups(mysql_db: str, remote: Path, mariadb_server: MariaDB) -> None:
    """A table with triggers cannot move between databases: the swap must still replace it."""
    run_sql("DROP TRIGGER IF EXISTS rclone_author_bi", TRIGGER)
    try:
        populate()
        call_command("dbbackup", "--database", ALIAS, verbosity=0)
        Author.objects.using(ALIAS).create(name="Carol")
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
        assert sorted(Author.objects.using(ALIAS).values_list("name", flat=True)) == ["Ada", "Bob"]
        assert triggers(mariadb_server) == ["rclone_author_bi"]
        Author.objects.using(ALIAS).create(name="Dan", bio="shout")
        assert Author.objects.using(ALIAS).get(name="Dan").bio == "SHOUT"
    finally:
        run_sql("DROP TRIGGER IF EXISTS rclone_author_bi")
    assert shadows(mariadb_server) == []


def test_swap_blocked_by_a_lock_changes_nothing(
    mysql_db: str, remote: Path, mariadb_server: MariaDB, rclone_settings: Any
) -> None:
    """Another session holding a live table: the swap gives up after SWAP_LOCK_TIMEOUT, and the live
    trigger it dropped to make way is back."""
    import MySQLdb

    run_sql("DROP TRIGGER IF EXISTS rclone_author_bi", TRIGGER)
    holder = None
    try:
        backed_up_then_changed(remote)
        changed = snapshot()
        rclone_settings(CONNECTORS={ALIAS: {"SWAP_LOCK_TIMEOUT": 1}})
        holder = MySQLdb.connect(unix_socket=mariadb_server.socket, user="root", database=DATABASE)
        cursor = holder.cursor()
        cursor.execute("BEGIN")
        cursor.execute("SELECT COUNT(*) FROM testapp_author")  # a metadata lock until ROLLBACK
        cursor.fetchall()
        with pytest.raises(CommandError) as caught:
            call_command("dbrestore", "--database", ALIAS, "--noinput", "--no-undo-backup", verbosity=0)
        assert "failed, so nothing was changed" in str(caught.value)
        assert "Lock wait timeout" in str(caught.value)
        assert triggers(mariadb_server) == ["rclone_author_bi"]
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()
        run_sql("DROP TRIGGER IF EXISTS rclone_author_bi")
    assert snapshot() == changed
    assert shadows(mariadb_server) == []


def test_an_account_with_a_connection_limit_restores(
    mysql_db: str, remote: Path, mariadb_server: MariaDB, rclone_settings: Any
) -> None:
    """The atomic restore's helper queries hold one client connection at a time, so an account that
    may hold only two (MAX_USER_CONNECTIONS, as shared hosting sets) restores: the restore itself
    and nothing else at once."""
    from tests import settings as test_settings

    user = "rclone_two_conns"
    password = test_settings.DB_PASSWORD.replace("'", "''")
    mariadb_server.sql(
        f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}' WITH MAX_USER_CONNECTIONS 2;\n"
        f"GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{user}'@'127.0.0.1';\n"
        f"GRANT ALL PRIVILEGES ON {SHADOWS} TO '{user}'@'127.0.0.1';"
    )
    try:
        populate()
        call_command("dbbackup", "--database", ALIAS, verbosity=0)
        Author.objects.using(ALIAS).create(name="Carol")
        rclone_settings(CONNECTORS={ALIAS: {"USER": user, "PASSWORD": test_settings.DB_PASSWORD}})
        call_command("dbrestore", "--database", ALIAS, "--noinput", "--no-undo-backup", verbosity=0)
        assert sorted(Author.objects.using(ALIAS).values_list("name", flat=True)) == ["Ada", "Bob"]
    finally:
        mariadb_server.sql(f"DROP USER '{user}'@'127.0.0.1';")
    assert shadows(mariadb_server) == []


def _only_session_settings(script: str) -> bool:
    statements = [part.strip() for part in script.split(";") if part.strip()]
    return bool(statements) and all(re.match(r"(SET|DO)\s", statement) for statement in statements)


def test_a_restore_of_plain_tables_starts_no_client_that_has_nothing_to_do(
    mysql_db: str, remote: Path, mariadb_server: MariaDB, rclone_settings: Any, tmp_path: Path
) -> None:
    """A client start costs about as much as a small query (issue #17): a restore of tables with no
    views, triggers, routines, events or kept foreign keys runs no follow-up after the atomic step,
    which would only set session variables. What each client run read is logged by a wrapper."""
    scripts = tmp_path / "client-runs"
    scripts.mkdir()
    client = shutil.which("mariadb") or shutil.which("mysql")
    wrapper = tmp_path / "client-logging"
    wrapper.write_text(f'#!/bin/bash\ntee "{scripts}/$(date +%s%N).$$" | "{client}" "$@"\n')
    wrapper.chmod(0o755)
    populate()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    before = snapshot()
    Author.objects.using(ALIAS).create(name="Carol")
    rclone_settings(CONNECTORS={ALIAS: {"RESTORE_CMD": str(wrapper)}})
    call_command("dbrestore", "--database", ALIAS, "--noinput", "--no-undo-backup", verbosity=0)
    assert snapshot() == before
    runs = [path.read_text(errors="replace") for path in sorted(scripts.iterdir())]
    assert any("RENAME TABLE" in script for script in runs), "the wrapper did not see the swap"
    assert [script for script in runs if _only_session_settings(script)] == []
    assert shadows(mariadb_server) == []
