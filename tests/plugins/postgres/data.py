"""Rows for the PostgreSQL tests and an exact, comparable picture of them."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from django.db import connections
from django.utils import timezone

from tests.testapp.models import Author, Book, Note


def populate(alias: str, notes: int = 3, note_size: int = 200) -> None:
    """Authors, books (with bytes and a decimal) and notes; note text is random so it compresses poorly."""
    ada = Author.objects.using(alias).create(name="Ada", bio="ligne ☃ 🎉\nzweite Zeile; 'quoted' \\ backslash")
    bob = Author.objects.using(alias).create(name="Bob")
    Book.objects.using(alias).create(
        author=ada, title="Notes", price=Decimal("12.50"), published=timezone.now(), cover=b"\x00\xff\x10"
    )
    Book.objects.using(alias).create(author=bob, title="Second", price=Decimal("0.99"))
    Note.objects.using(alias).bulk_create(Note(text=os.urandom(note_size // 2).hex()) for _ in range(notes))


def change(alias: str) -> None:
    """Insert, update and delete, so a restore has something to undo in every table."""
    Author.objects.using(alias).create(name="Carol")
    Book.objects.using(alias).filter(title="Notes").update(price=Decimal("99.00"))
    Note.objects.using(alias).filter(pk=Note.objects.using(alias).order_by("pk").values("pk")[:1]).delete()


def snapshot(alias: str) -> list[list[tuple[Any, ...]]]:
    authors = list(Author.objects.using(alias).order_by("pk").values_list("pk", "name", "bio"))
    books = [
        (*row[:5], bytes(row[5]) if row[5] is not None else None)
        for row in Book.objects.using(alias)
        .order_by("pk")
        .values_list("pk", "author_id", "title", "price", "published", "cover")
    ]
    notes = list(Note.objects.using(alias).order_by("pk").values_list("pk", "text"))
    return [authors, books, notes]


def sql(alias: str, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement as the alias's own role and return its rows."""
    with connections[alias].cursor() as cursor:
        cursor.execute(statement)
        rows = list(cursor.fetchall()) if cursor.description else []
    connections[alias].close()
    return rows
