"""Backup names: template rendering, parsing back, and path safety."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from django_rclone import names
from django_rclone.conf import load_settings
from django_rclone.exceptions import UnsafePath

WHEN = datetime(2024, 1, 15, 12, 0, 5, tzinfo=timezone.utc)


def test_default_template_round_trips() -> None:
    conf = load_settings({"REMOTE": "r:"})
    name = names.render(conf, "default", "dump", WHEN)
    assert name == "default-2024-01-15-120005.dump"
    parsed = names.parse(conf, name)
    assert parsed is not None
    assert (parsed.database, parsed.timestamp, parsed.ext) == ("default", WHEN, "dump")


def test_aliases_with_dashes_parse_exactly() -> None:
    conf = load_settings({"REMOTE": "r:"})
    for alias in ("my-db", "default-replica", "a-2024"):
        parsed = names.parse(conf, names.render(conf, alias, "sql", WHEN))
        assert parsed is not None
        assert parsed.database == alias


def test_custom_template_and_servername() -> None:
    conf = load_settings(
        {
            "REMOTE": "r:",
            "DB_FILENAME_TEMPLATE": "{database}--{servername}--{datetime}.{ext}",
            "DB_DATE_FORMAT": "%Y%m%dT%H%M%S",
        }
    )
    name = names.render(conf, "default", "sql.gz", WHEN, servername="web-1")
    assert name == "default--web-1--20240115T120005.sql.gz"
    parsed = names.parse(conf, name)
    assert parsed is not None
    assert (parsed.database, parsed.servername, parsed.ext) == ("default", "web-1", "sql.gz")


@pytest.mark.parametrize("name", ["notes.txt", "default-2024-13-45-999999.dump", "default.dump", "x.manifest"])
def test_foreign_names_do_not_parse(name: str) -> None:
    assert names.parse(load_settings({"REMOTE": "r:"}), name) is None


@pytest.mark.parametrize(
    "name", ["../etc/passwd", "a/b.dump", "other:secret.dump", "..", ".", "", "-rf", "a\\b", "x\ny"]
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafePath):
        names.check_name(name)
