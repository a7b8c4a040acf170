"""The dumpdata/loaddata fallback connector, end to end on the real SQLite ``default`` alias."""

from __future__ import annotations

import io
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_rclone.exceptions import ConnectorNotFound
from django_rclone.resolution import resolve
from tests.testapp.models import Author, Book, Note

pytestmark = pytest.mark.usefixtures("no_stray_processes")

DOTTED = "django_rclone.db.django.DjangoDumpDataConnector"


def snapshot() -> dict[str, list[Any]]:
    return {
        "authors": list(Author.objects.order_by("pk").values_list("pk", "name", "bio")),
        "books": list(Book.objects.order_by("pk").values_list("pk", "author_id", "title", "price", "cover")),
        "notes": list(Note.objects.order_by("pk").values_list("pk", "text")),
    }


def seed() -> None:
    ada = Author.objects.create(name="Ada", bio="analyst")
    Author.objects.create(name="Grace")
    Book.objects.create(author=ada, title="Notes", price=Decimal("12.50"), cover=b"\x00\xffbin")
    Note.objects.create(text="kept")


def backup_files(remote: Path) -> list[Path]:
    return sorted(p for p in (remote / "db").iterdir() if p.suffix == ".json" and not p.name.endswith(".manifest.json"))


def test_round_trip_replaces_data(sqlite_db: str, remote: Path, rclone_settings: Any) -> None:
    rclone_settings(CONNECTORS={"default": DOTTED}, COMPRESSION="none")
    seed()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    [dump] = backup_files(remote)
    assert b'"model": "testapp.author"' in dump.read_bytes()

    Author.objects.filter(name="Grace").update(bio="changed")
    Book.objects.all().delete()
    Author.objects.create(name="Added after the backup")
    Note.objects.create(text="also added")
    assert snapshot() != before

    call_command("dbrestore", "--noinput", verbosity=0)
    assert snapshot() == before


def test_exclude_is_honoured(sqlite_db: str, remote: Path, rclone_settings: Any) -> None:
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": DOTTED, "EXCLUDE": ["testapp.Note"]}}, COMPRESSION="none")
    seed()
    call_command("dbbackup", verbosity=0)
    [dump] = backup_files(remote)
    content = dump.read_bytes()
    assert b'"model": "testapp.note"' not in content
    assert b'"model": "testapp.author"' in content

    Note.objects.create(text="written after the backup")
    notes = list(Note.objects.order_by("pk").values_list("text", flat=True))
    Author.objects.all().delete()
    call_command("dbrestore", "--noinput", verbosity=0)
    # Excluded tables are neither emptied nor reloaded; the others come back.
    assert list(Note.objects.order_by("pk").values_list("text", flat=True)) == notes
    assert sorted(Author.objects.values_list("name", flat=True)) == ["Ada", "Grace"]


def test_failed_load_leaves_data_unchanged(sqlite_db: str, remote: Path, rclone_settings: Any) -> None:
    rclone_settings(CONNECTORS={"default": DOTTED}, COMPRESSION="none")
    seed()
    call_command("dbbackup", verbosity=0)
    [dump] = backup_files(remote)
    data = dump.read_bytes()
    dump.write_bytes(data[: len(data) // 2] + b"{not json")
    Author.objects.create(name="Current")
    current = snapshot()
    with pytest.raises(CommandError, match="exited with status 1"):
        call_command("dbrestore", "--noinput", "--skip-verify", verbosity=0)
    assert snapshot() == current


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_connector_not_found_mentions_the_fallback(remote: Path) -> None:
    engine = "acme.db.backends.nosuch"
    databases = {"default": {"ENGINE": engine, "NAME": "x"}}
    with override_settings(DATABASES=databases), pytest.raises(ConnectorNotFound) as info:
        resolve("default")
    message = str(info.value)
    assert DOTTED in message
    assert "CONNECTOR_MAPPING" in message
    assert engine in message


def test_imported_file_outside_the_template_restores_with_a_warning(
    sqlite_db: str, remote: Path, rclone_settings: Any
) -> None:
    """The migration guide's recipe: a manifest-less file under a non-template name, restored with -i."""
    rclone_settings(CONNECTORS={"default": DOTTED}, COMPRESSION="none")
    seed()
    before = snapshot()
    call_command("dbbackup", verbosity=0)
    [dump] = backup_files(remote)
    imported = remote / "db" / "imported-default-2024-05-01.json"
    dump.rename(imported)
    Path(f"{dump}.manifest.json").unlink()
    Author.objects.all().delete()

    out, err = io.StringIO(), io.StringIO()
    call_command("listbackups", stdout=out)
    assert "imported-default" not in out.getvalue()
    call_command("cleanbackups", "--keep", "1", stdout=io.StringIO())
    assert imported.exists()

    call_command("dbrestore", "--noinput", "-i", imported.name, stdout=io.StringIO(), stderr=err)
    assert "has no manifest" in err.getvalue()
    assert snapshot() == before


def test_connection_overrides_reach_the_child(sqlite_db: str, remote: Path, rclone_settings: Any) -> None:
    """NAME in CONNECTORS["default"] makes the child dump another database file than DATABASES says."""
    from django.db import connections

    call_command("migrate", database="other", verbosity=0)
    Author.objects.using("other").all().delete()
    Author.objects.using("other").create(name="Only in other")
    Author.objects.create(name="Only in default")
    other = connections.databases["other"]["NAME"]
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": DOTTED, "NAME": other}}, COMPRESSION="none")
    call_command("dbbackup", verbosity=0)
    [dump] = backup_files(remote)
    content = dump.read_bytes()
    assert b"Only in other" in content
    assert b"Only in default" not in content


def test_a_dump_cut_short_with_exit_status_0_is_refused(sqlite_db: str, remote: Path, rclone_settings: Any) -> None:
    seed()
    cut = [sys.executable, str(Path(__file__).parents[1] / "standins" / "cut.py"), "--drop-last", "3", "--"]
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": DOTTED, "DUMP_PREFIX": cut}})
    with pytest.raises(CommandError, match=r"exited 0 but its output is not a whole JSON array"):
        call_command("dbbackup", verbosity=0)
    assert not [p for p in remote.rglob("*") if p.is_file()]  # the upload never completed
