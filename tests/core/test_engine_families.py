"""ENGINEs that no mapping or plugin names (wrappers, forks, third-party drivers) are matched by the
database family their name contains, with a warning; an explicit mapping still wins."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from django_rclone.exceptions import ConnectorNotFound
from django_rclone.plugins import build_host
from django_rclone.resolution import EngineFamilyWarning, explain, resolve

PG = "django_rclone_postgres.connectors.PgDumpConnector"
PG_GIS = "django_rclone_postgres.connectors.PgDumpGisConnector"
MYSQL = "django_rclone_mysql.connectors.MysqlDumpConnector"
SQLITE = "django_rclone_sqlite.connectors.SqliteConnector"
MONGO = "django_rclone_mongodb.connectors.MongoDumpConnector"


@pytest.fixture
def engine(remote: object) -> Iterator[Callable[[str], None]]:
    """Add a database alias ``legacy`` with the given ENGINE."""
    stack: list[Any] = []

    def set_engine(name: str) -> None:
        entry = {"ENGINE": name, "NAME": "legacy.db" if "sqlite" in name else "legacy"}
        override = override_settings(DATABASES={**settings.DATABASES, "legacy": entry})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            override.enable()
        stack.append(override)

    yield set_engine
    for override in reversed(stack):
        override.disable()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("timescale.db.backends.postgresql", PG),
        ("timescale.db.backends.postgis", PG_GIS),
        ("django_tenants.postgresql_backend", PG),
        ("transaction_hooks.backends.postgresql_psycopg2", PG),
        ("transaction_hooks.backends.postgis", PG_GIS),
        ("transaction_hooks.backends.sqlite3", SQLITE),
        ("transaction_hooks.backends.mysql", MYSQL),
        ("mysql.connector.django", MYSQL),
        ("psqlextra.backend", None),
        ("django_cockroachdb", None),
        ("django.db.backends.oracle", None),
    ],
)
def test_engine_family_resolution(engine: Callable[[str], None], name: str, expected: str | None) -> None:
    engine(name)
    if expected is None:
        with pytest.raises(ConnectorNotFound):
            resolve("legacy")
        return
    with pytest.warns(EngineFamilyWarning, match=f"CONNECTOR_MAPPING'\\]\\['{name}'\\]"):
        resolution = resolve("legacy")
    assert type(resolution.connector).dotted_path() == expected
    assert resolution.rule == "engine family"


def test_explicit_mapping_wins_over_the_family(engine: Callable[[str], None], rclone_settings: Any) -> None:
    engine("timescale.db.backends.postgresql")
    rclone_settings(CONNECTOR_MAPPING={"timescale.db.backends.postgresql": "django_rclone_postgres.PgDumpSqlConnector"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", EngineFamilyWarning)
        resolution = resolve("legacy")
    assert resolution.rule == "CONNECTOR_MAPPING"
    assert type(resolution.connector).dotted_path() == "django_rclone_postgres.connectors.PgDumpSqlConnector"


def test_family_without_its_plugin_names_the_distribution(engine: Callable[[str], None]) -> None:
    engine("mysql.connector.django")
    with pytest.raises(ConnectorNotFound, match="pip install django-rclone-mysql"):
        resolve("legacy", build_host(load_entry_points=False))
    found = explain("legacy", build_host(load_entry_points=False))
    assert found.package == "django-rclone-mysql"


def test_rcloneplugins_says_the_family_chose_the_connector(engine: Callable[[str], None]) -> None:
    engine("django_tenants.postgresql_backend")
    out = StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EngineFamilyWarning)
        call_command("rcloneplugins", stdout=out)
    text = out.getvalue()
    block = text[text.index("  legacy  (ENGINE django_tenants.postgresql_backend)") :]
    assert f"-> {PG}" in block
    assert "chosen by engine family 'postgresql'" in block
    assert "CONNECTOR_MAPPING" in block
