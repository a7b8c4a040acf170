"""Settings written for django-rclone 0.1.0 keep naming connectors by their old import paths."""

from __future__ import annotations

import sys

import pytest
from django.utils.module_loading import import_string

from django_rclone_sqlite import SqliteConnector


def test_old_path_resolves_to_the_plugin_class() -> None:
    assert import_string("django_rclone.db.sqlite.SqliteConnector") is SqliteConnector


def test_old_path_without_the_plugin_names_the_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "django_rclone_mongodb", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install django-rclone-mongodb"):
        import_string("django_rclone.db.mongodb.MongoDumpConnector")


def test_unknown_name_on_old_path() -> None:
    with pytest.raises(ImportError):
        import_string("django_rclone.db.sqlite.NoSuchConnector")
