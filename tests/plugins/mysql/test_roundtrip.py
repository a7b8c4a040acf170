"""MySQL/MariaDB round trips through Django models, the real server, the real tools and rclone."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.testapp.models import Author, Book, Note

pytestmark = [pytest.mark.mysql, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

ALIAS = "mysql"


def snapshot() -> list[list[tuple]]:
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
