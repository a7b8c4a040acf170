"""MariaDB round trips through every codec of the pipeline's compression stage (real server, tools, rclone)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.plugins.mysql.test_roundtrip import ALIAS, populate, snapshot
from tests.testapp.models import Author, Note

pytestmark = [pytest.mark.mysql, pytest.mark.integration, pytest.mark.usefixtures("no_stray_processes")]

CODECS = {"zstd": ".sql.zst", "zstd:9": ".sql.zst", "gzip": ".sql.gz", "none": ".sql"}


@pytest.mark.parametrize("codec", list(CODECS))
def test_round_trip_through_each_codec(
    mysql_db: str, remote: Path, rclone_settings: Callable[..., None], codec: str
) -> None:
    rclone_settings(COMPRESSION_BY_DATABASE={ALIAS: codec})
    populate()
    before = snapshot()
    call_command("dbbackup", "--database", ALIAS, verbosity=0)
    [obj] = [p for p in (remote / "db").iterdir() if not p.name.endswith(".manifest.json")]
    assert obj.name.endswith(CODECS[codec])
    Author.objects.using(ALIAS).create(name="Carol")
    Note.objects.using(ALIAS).all().delete()
    call_command("dbrestore", "--database", ALIAS, "--noinput", verbosity=0)
    assert snapshot() == before
