"""MySQL/MariaDB round trips through Django models, the real server, the real tools and rclone."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_rclone.codecs import zstd
from tests.testapp.models import Author, Book, Note

pytestmark = [pytest.mark.mysql, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

ALIAS = "mysql"


def snapshot() -> list[list[tuple[Any, ...]]]:
    authors = list(Author.objects.using(ALIAS).order_by("pk").values_list("pk", "name", "bio"))
    books = [
        (*row[:5], bytes(row[5]) if row[5] is not None else None)
        for row in Book.objects.using(ALIAS)
        .order_by("pk")
        .values_list("pk", "author_id", "title", "price", "published", "cover")
    ]
    notes = list(Note.objects.using(ALIAS).order_by("pk").values_list("pk", "text"))
    return [authors, books, notes]


def populate() -> None:
    ada = Author.objects.using(ALIAS).create(name="Ada", bio="línea ☃ 🎉\nsecond line; 'quoted' \\ back\tslash")
    bob = Author.objects.using(ALIAS).create(name="Bob")
    Book.objects.using(ALIAS).create(
        author=ada, title="Notes", price=Decimal("12.50"), published=timezone.now(), cover=bytes(range(256))
    )
    Book.objects.using(ALIAS).create(author=bob, title="Second", price=Decimal("0.99"))
    Note.objects.using(ALIAS).create(text="x" * 10000)


def test_backup_change_restore_gives_exact_rows(mysql_db: str, remote: Path) -> None:
    populate()
    before = snapshot()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    Author.objects.using(ALIAS).create(name="Carol")
    Book.objects.using(ALIAS).filter(title="Notes").update(price=Decimal("99.00"))
    Note.objects.using(ALIAS).all().delete()
    assert snapshot() != before
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert snapshot() == before


def test_restore_twice_over_same_rows_has_no_duplicates(mysql_db: str, remote: Path) -> None:
    populate()
    before = snapshot()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert snapshot() == before


# Four-byte UTF-8 (emoji, musical symbol, CJK extension B, a flag made of two code points), three-byte
# and two-byte characters, a combining sequence and a zero-width joiner family.
UTF8MB4_TEXTS = [
    "😀🎉🦄 𝄞 𠀀𠜎 🇫🇷 é vs e\u0301 👨\u200d👩\u200d👧",
    "日本語 · Ελληνικά · עברית · ☃",
    "\U0010fffd last plane, \U0001f9ea",
]


def raw_hex(table: str, column: str) -> list[str]:
    from django.db import connections

    with connections[ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT HEX({column}) FROM {table} ORDER BY id")  # noqa: S608 - fixed test identifiers
        return [row[0] for row in cursor.fetchall()]


def test_utf8mb4_text_survives_byte_for_byte(mysql_db: str, remote: Path) -> None:
    for index, text in enumerate(UTF8MB4_TEXTS):
        Author.objects.using(ALIAS).create(name=f"{text[:20]} {index}", bio=text)
        Note.objects.using(ALIAS).create(text=text * 50)
    stored = raw_hex("testapp_author", "bio"), raw_hex("testapp_note", "text")
    assert stored[0][0] == UTF8MB4_TEXTS[0].encode("utf-8").hex().upper()  # the server holds real 4-byte UTF-8
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    Author.objects.using(ALIAS).update(bio="?")
    Note.objects.using(ALIAS).update(text="?")
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert (raw_hex("testapp_author", "bio"), raw_hex("testapp_note", "text")) == stored
    assert list(Author.objects.using(ALIAS).order_by("pk").values_list("bio", flat=True)) == UTF8MB4_TEXTS


def test_exclude_leaves_tables_out_and_untouched(mysql_db: str, rclone_settings: Any, remote: Path) -> None:
    rclone_settings(CONNECTORS={ALIAS: {"EXCLUDE": ["testapp_note"]}})
    populate()
    authors_before = snapshot()[0]
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    (backup,) = list(remote.rglob("*.sql.zst"))
    sql = zstd.decompress(backup.read_bytes())
    assert b"`testapp_author`" in sql
    assert b"testapp_note" not in sql
    Author.objects.using(ALIAS).create(name="Carol")
    Note.objects.using(ALIAS).update(text="changed after the backup")
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert snapshot()[0] == authors_before
    assert list(Note.objects.using(ALIAS).values_list("text", flat=True)) == ["changed after the backup"]


def test_unix_socket_connection(mysql_db: str, rclone_settings: Any, remote: Path, mariadb_server: Any) -> None:
    # PORT 1 would refuse any TCP connection: success means the socket was used.
    rclone_settings(CONNECTORS={ALIAS: {"HOST": mariadb_server.socket, "PORT": 1}})
    populate()
    before = snapshot()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    Note.objects.using(ALIAS).all().delete()
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert snapshot() == before


def test_tcp_port_is_really_used(mysql_db: str, rclone_settings: Any, remote: Path) -> None:
    rclone_settings(CONNECTORS={ALIAS: {"PORT": 1}})
    with pytest.raises(CommandError, match=r"2002|2003|Can't connect"):
        call_command("dbbackup", "--database", ALIAS, verbosity=0)
    assert not list(remote.rglob("*.sql"))


SCHEMA_OBJECTS = {
    "trigger": (
        "CREATE TRIGGER rclone_author_bi BEFORE INSERT ON testapp_author FOR EACH ROW SET NEW.bio = UPPER(NEW.bio)",
        "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
        "AND TRIGGER_NAME = 'rclone_author_bi'",
        "DROP TRIGGER IF EXISTS rclone_author_bi",
    ),
    "routine": (
        "CREATE FUNCTION rclone_answer() RETURNS INT DETERMINISTIC RETURN 42",
        "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
        "AND ROUTINE_NAME = 'rclone_answer'",
        "DROP FUNCTION IF EXISTS rclone_answer",
    ),
    "event": (
        "CREATE EVENT rclone_tick ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM testapp_note WHERE 1 = 0",
        "SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = 'rclone_tick'",
        "DROP EVENT IF EXISTS rclone_tick",
    ),
}


def run_sql(*statements: str) -> list[Any]:
    from django.db import connections

    results = []
    with connections[ALIAS].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
            results.append(cursor.fetchone() if cursor.description else None)
    return results


@pytest.fixture
def schema_objects(mysql_db: str) -> Iterator[None]:
    run_sql(*(drop for _, _, drop in SCHEMA_OBJECTS.values()))
    run_sql(*(create for create, _, _ in SCHEMA_OBJECTS.values()))
    yield
    run_sql(*(drop for _, _, drop in SCHEMA_OBJECTS.values()))


def present() -> dict[str, bool]:
    return {kind: run_sql(query)[0][0] == 1 for kind, (_, query, _) in SCHEMA_OBJECTS.items()}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"trigger": True, "routine": False, "event": False}),
        ({"ROUTINES": True, "EVENTS": True}, {"trigger": True, "routine": True, "event": True}),
        ({"TRIGGERS": False, "ROUTINES": True}, {"trigger": False, "routine": True, "event": False}),
    ],
)
def test_triggers_routines_events_when_asked(
    schema_objects: None, rclone_settings: Any, remote: Path, options: dict[str, Any], expected: dict[str, bool]
) -> None:
    rclone_settings(CONNECTORS={ALIAS: options})
    assert present() == {"trigger": True, "routine": True, "event": True}
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    run_sql(*(drop for _, _, drop in SCHEMA_OBJECTS.values()))
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert present() == expected
    if expected["trigger"]:
        Author.objects.using(ALIAS).create(name="Trig", bio="shout")
        assert Author.objects.using(ALIAS).get(name="Trig").bio == "SHOUT"


def test_restore_tool_failure_is_reported(mysql_db: str, rclone_settings: Any, remote: Path) -> None:
    populate()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    rclone_settings(CONNECTORS={ALIAS: {"NAME": "no_such_database"}})
    with pytest.raises(CommandError, match="no_such_database"):
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)


def test_truncated_backup_is_refused_before_touching_the_database(mysql_db: str, remote: Path) -> None:
    populate()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    (backup,) = list(remote.rglob("*.sql.zst"))
    data = backup.read_bytes()
    backup.write_bytes(data[: len(data) // 2])
    Note.objects.using(ALIAS).update(text="after")
    changed = snapshot()
    with pytest.raises(CommandError, match="manifest"):
        call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert snapshot() == changed


def test_estimated_size_is_the_tables_size(mysql_db: str, rclone_settings: Any) -> None:
    """The progress line's estimate: the client's answer equals information_schema's through Django."""
    from django_rclone.resolution import resolve

    populate()
    [(expected,)] = run_sql(
        "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
        "WHERE table_schema = DATABASE()"
    )
    connector = resolve(ALIAS).connector
    try:
        assert connector.estimated_size() == int(expected)
        assert connector.estimated_size() > 0
    finally:
        connector.cleanup()
    rclone_settings(CONNECTORS={ALIAS: {"PORT": "1", "HOST": "127.0.0.1"}})  # nothing listens: no estimate
    connector = resolve(ALIAS).connector
    try:
        assert connector.estimated_size() is None
    finally:
        connector.cleanup()
