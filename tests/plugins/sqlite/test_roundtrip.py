"""SQLite round trips through Django models, real sqlite3 and real rclone."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.testapp.models import Author, Book, Note

pytestmark = pytest.mark.usefixtures("no_stray_processes")


def snapshot(alias: str = "default") -> list[tuple]:
    authors = list(Author.objects.using(alias).order_by("pk").values_list("pk", "name", "bio"))
    books = list(
        Book.objects.using(alias).order_by("pk").values_list("pk", "author_id", "title", "price", "published", "cover")
    )
    notes = list(Note.objects.using(alias).order_by("pk").values_list("pk", "text"))
    return [authors, [(*b[:5], bytes(b[5]) if b[5] is not None else None) for b in books], notes]


def populate(alias: str = "default") -> None:
    ada = Author.objects.using(alias).create(name="Ada", bio="línea ☃ 🎉\nsecond line; 'quoted'")
    bob = Author.objects.using(alias).create(name="Bob")
    Book.objects.using(alias).create(
        author=ada, title="Notes", price=Decimal("12.50"), published=timezone.now(), cover=b"\x00\xff\x10"
    )
    Book.objects.using(alias).create(author=bob, title="Second", price=Decimal("0.99"))
    Note.objects.using(alias).create(text="x" * 10000)


def test_backup_change_restore_gives_exact_rows(sqlite_db: str, remote: Path) -> None:
    populate()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    Author.objects.create(name="Carol")
    Book.objects.filter(title="Notes").update(price=Decimal("99.00"))
    Note.objects.all().delete()
    assert snapshot() != before
    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == before


def test_restore_over_database_with_same_rows_has_no_duplicates(sqlite_db: str, remote: Path) -> None:
    populate()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    call_command("dbrestore", "--noinput", verbosity=0)
    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == before
