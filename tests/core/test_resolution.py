"""Connector resolution order: CONNECTORS[alias] > CONNECTOR_MAPPING[engine] > plugins > error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_rclone.exceptions import ConnectorNotFound
from django_rclone.plugins import build_host
from django_rclone.resolution import resolve
from django_rclone_sqlite import SqliteConnector
from tests.core.custom_connectors import CatFileConnector
from tests.standins.connector import StandinConnector

STANDIN = "tests.standins.connector.StandinConnector"
CATFILE = "tests.core.custom_connectors.CatFileConnector"


def test_plugin_engine_is_used_without_settings(remote: object) -> None:
    resolution = resolve("default")
    assert isinstance(resolution.connector, SqliteConnector)
    assert resolution.rule == "plugin"
    assert resolution.detail == "plugin 'sqlite'"


def test_mapping_beats_plugins(rclone_settings: Callable[..., None]) -> None:
    rclone_settings(CONNECTOR_MAPPING={"django.db.backends.sqlite3": CATFILE})
    resolution = resolve("default")
    assert isinstance(resolution.connector, CatFileConnector)
    assert resolution.rule == "CONNECTOR_MAPPING"


def test_alias_beats_mapping_and_only_for_that_alias(rclone_settings: Callable[..., None]) -> None:
    rclone_settings(CONNECTORS={"default": STANDIN}, CONNECTOR_MAPPING={"django.db.backends.sqlite3": CATFILE})
    assert isinstance(resolve("default").connector, StandinConnector)
    assert resolve("default").rule == "CONNECTORS"
    assert isinstance(resolve("other").connector, CatFileConnector)


def test_alias_options_dict_keeps_auto_resolution_and_overrides_connection(
    rclone_settings: Callable[..., None],
) -> None:
    rclone_settings(CONNECTORS={"default": {"CONNECTOR": "auto", "USER": "backup", "EXTENSION": "sql"}})
    connector = resolve("default").connector
    assert isinstance(connector, SqliteConnector)
    assert connector.user == "backup"
    assert connector.option("EXTENSION") == "sql"


def test_class_and_instance_targets(rclone_settings: Callable[..., None]) -> None:
    rclone_settings(CONNECTORS={"default": CatFileConnector, "other": CatFileConnector("other")})
    assert isinstance(resolve("default").connector, CatFileConnector)
    assert resolve("other").connector.database == "other"


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_uninstalled_plugin_is_named_in_the_error(remote: object) -> None:
    databases = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}}
    core_only = build_host(load_entry_points=False)
    with override_settings(DATABASES=databases), pytest.raises(ConnectorNotFound) as caught:
        resolve("default", core_only)
    assert "pip install django-rclone-postgres" in str(caught.value)


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_unknown_engine_without_package_says_how_to_configure(remote: object) -> None:
    databases = {"default": {"ENGINE": "acme.db.backends.quantum", "NAME": "x"}}
    with override_settings(DATABASES=databases), pytest.raises(ConnectorNotFound) as caught:
        resolve("default")
    assert "CONNECTOR_MAPPING" in str(caught.value)
    assert "acme.db.backends.quantum" in str(caught.value)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.core.custom_connectors.Missing", "cannot be imported"),
        ("tests.core.custom_connectors.NotAConnector", "BaseConnector"),
    ],
)
def test_bad_targets_explain(rclone_settings: Callable[..., None], target: str, message: str) -> None:
    rclone_settings(CONNECTORS={"default": target})
    with pytest.raises(ImproperlyConfigured, match=message):
        resolve("default")


def test_unknown_alias(remote: object) -> None:
    with pytest.raises(ImproperlyConfigured, match="'nope' is not in DATABASES"):
        resolve("nope")


def test_instance_bound_to_another_alias_is_refused(rclone_settings: Callable[..., None]) -> None:
    rclone_settings(CONNECTORS={"other": CatFileConnector("default")})
    with pytest.raises(ImproperlyConfigured, match="bound to database 'default'"):
        resolve("other")
