"""Forwarding for the connector import paths of django-rclone 0.1.0.

In 0.1.0 the connectors lived in ``django_rclone.db.<family>``; they now ship in one distribution
per database family. Settings that still name ``django_rclone.db.postgresql.PgDumpConnector``
keep working when the plugin is installed, and fail with the ``pip install`` line when it is not.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def forward(old_module: str, new_module: str, distribution: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` that resolves names from ``new_module``."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            module = importlib.import_module(new_module)
        except ImportError as exc:
            raise ImportError(
                f"{old_module}.{name} moved to the {distribution} distribution: pip install {distribution}"
            ) from exc
        try:
            return getattr(module, name)
        except AttributeError:
            raise AttributeError(f"module {old_module!r} ({new_module}) has no attribute {name!r}") from None

    return __getattr__
