"""The installed distribution's entry point is found and claims the PostgreSQL engines."""

from __future__ import annotations

import pytest
from django.conf import settings

from django_rclone.plugins import build_host
from django_rclone.resolution import resolve
from django_rclone_postgres.connectors import PgDumpConnector, PgDumpGisConnector

ENGINES = {
    "django.db.backends.postgresql": "django_rclone_postgres.connectors.PgDumpConnector",
    "django_prometheus.db.backends.postgresql": "django_rclone_postgres.connectors.PgDumpConnector",
    "django.contrib.gis.db.backends.postgis": "django_rclone_postgres.connectors.PgDumpGisConnector",
    "django_prometheus.db.backends.postgis": "django_rclone_postgres.connectors.PgDumpGisConnector",
}


def test_entry_point_claims_engines() -> None:
    host = build_host()
    [info] = [p for p in host.plugins if p.name == "postgres"]
    assert info.distribution == "django-rclone-postgres"
    assert info.module == "django_rclone_postgres.plugin"
    claims = host.engines()
    assert {engine: claims[engine].connector for engine in ENGINES} == ENGINES
    assert {claims[engine].plugin for engine in ENGINES} == {"postgres"}


def test_resolve_without_settings() -> None:
    assert not settings.DJANGO_RCLONE.get("CONNECTORS")
    resolution = resolve("postgres")
    assert type(resolution.connector) is PgDumpConnector
    assert resolution.rule == "plugin"
    if "postgis" not in settings.DATABASES:
        pytest.skip("GeoDjango libraries are not installed, so the 'postgis' alias is not configured")
    assert type(resolve("postgis").connector) is PgDumpGisConnector


def test_per_alias_options_dict_keeps_plugin_resolution(rclone_settings) -> None:  # type: ignore[no-untyped-def]
    rclone_settings(CONNECTORS={"postgres": {"DROP": False, "COMPRESSION": 0}})
    connector = resolve("postgres").connector
    assert type(connector) is PgDumpConnector
    assert "--clean" not in connector.restore_argv()  # type: ignore[attr-defined]
    assert "--compress=0" in connector.dump_argv()  # type: ignore[attr-defined]
