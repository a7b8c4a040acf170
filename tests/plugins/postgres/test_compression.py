"""PostgreSQL and the pipeline's compression stage: real server, pg_dump/pg_restore/psql and rclone."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import django_rclone
from django_rclone.codecs import zstd
from tests.plugins.postgres.data import change, populate, snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

PG_DUMP = "django_rclone_postgres.connectors.PgDumpConnector"
PG_SQL = "django_rclone_postgres.connectors.PgDumpSqlConnector"
Settings = Callable[..., None]


def objects(remote: Path) -> list[Path]:
    return sorted(p for p in (remote / "db").iterdir() if not p.name.endswith(".manifest.json"))


def restore(*extra: str) -> None:
    call_command("dbrestore", "-d", "postgres", "--noinput", *extra, verbosity=0)


@pytest.mark.parametrize("codec", ["zstd", "zstd:3", "gzip", "none"])
@pytest.mark.parametrize(("connector", "ext"), [(PG_DUMP, "dump"), (PG_SQL, "sql")], ids=["custom", "sql"])
def test_round_trip_through_each_codec(
    pg_db: str, rclone_settings: Settings, remote: Path, connector: str, ext: str, codec: str
) -> None:
    rclone_settings(CONNECTORS={"postgres": connector}, COMPRESSION=codec)
    populate(pg_db)
    before = snapshot(pg_db)
    result = django_rclone.backup("postgres")
    suffix = {"zstd": ".zst", "gzip": ".gz", "none": ""}[codec.split(":")[0]]
    assert result.name.endswith(f".{ext}{suffix}")
    change(pg_db)
    restore()
    assert snapshot(pg_db) == before


def test_pg_dump_compression_is_off_while_the_stage_is_on(pg_db: str, rclone_settings: Settings, remote: Path) -> None:
    populate(pg_db, notes=20, note_size=4000)
    result = django_rclone.backup("postgres")
    archive = zstd.decompress((remote / "db" / result.name).read_bytes())
    assert archive[:5] == b"PGDMP"
    # pg_dump -Z0 stores table data as it is: random hex notes are visible in the archive.
    assert archive.count(b"\n") > 20


def test_a_compression_option_keeps_pg_dump_compression_and_skips_the_stage(
    pg_db: str, rclone_settings: Settings, remote: Path
) -> None:
    rclone_settings(CONNECTORS={"postgres": {"COMPRESSION": "6"}})
    populate(pg_db)
    before = snapshot(pg_db)
    result = django_rclone.backup("postgres")
    assert result.name.endswith(".dump")
    assert result.manifest.compression == "none"
    assert (remote / "db" / result.name).read_bytes()[:5] == b"PGDMP"
    change(pg_db)
    restore()
    assert snapshot(pg_db) == before


def test_django_dbbackup_gzip_backup_without_manifest_restores(
    pg_db: str, rclone_settings: Settings, remote: Path
) -> None:
    """``pg_dump -Fc | gzip`` named the django-dbbackup way, copied onto the remote without a manifest."""
    rclone_settings(COMPRESSION="none")
    populate(pg_db)
    before = snapshot(pg_db)
    made = django_rclone.backup("postgres")
    obj = remote / "db" / made.name
    dbbackup_name = "postgres-2024-01-01-120000.dump.gz"
    (remote / "db" / dbbackup_name).write_bytes(gzip.compress(obj.read_bytes()))
    obj.unlink()
    Path(f"{obj}.manifest.json").unlink()
    change(pg_db)
    rclone_settings()  # zstd for new backups does not matter to an old one
    restore("--input-path", dbbackup_name)
    assert snapshot(pg_db) == before
    listed = {row["name"]: row for row in json.loads(_listing())}
    # Made elsewhere (no manifest): listed as unverified, never as a verified backup; beside it the
    # undo backup the restore took first.
    assert listed[dbbackup_name]["verified"] is False
    assert [row["kind"] for name, row in listed.items() if name != dbbackup_name] == ["pre-restore"]


def _listing() -> str:
    import io

    out = io.StringIO()
    call_command("listbackups", "--json", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("connector", [PG_DUMP, PG_SQL], ids=["custom", "sql"])
def test_corrupted_compressed_backup_restored_unverified_is_stopped_before_commit(
    pg_db: str, rclone_settings: Settings, remote: Path, connector: str
) -> None:
    """--skip-verify: only the decoder stands between a damaged object and the restore tool."""
    rclone_settings(CONNECTORS={"postgres": connector})
    populate(pg_db, notes=40, note_size=20_000)
    django_rclone.backup("postgres")
    [obj] = objects(remote)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))
    change(pg_db)
    changed: Any = snapshot(pg_db)
    with pytest.raises(CommandError, match="not valid zstd data"):
        restore("--skip-verify")
    assert snapshot(pg_db) == changed
