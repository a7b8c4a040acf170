"""Keep GIS test models on the GIS aliases only."""

from __future__ import annotations

from typing import Any

GIS_ALIASES = {"postgis", "spatialite"}


class TestRouter:
    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        if app_label == "gisapp":
            return db in GIS_ALIASES
        return None
