"""django-rclone: stream Django database and media backups to any rclone remote.

Plugin authors import ``hookimpl`` from here. The Python API (``backup``, ``restore``,
``list_backups``, ``media_backup``, ``media_restore``) is what the management commands call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = [
    "__version__",
    "backup",
    "drill",
    "hookimpl",
    "list_backups",
    "media_backup",
    "media_restore",
    "restore",
]

if TYPE_CHECKING:
    from django_rclone.api import backup, drill, list_backups, media_backup, media_restore, restore
    from django_rclone.plugins import hookimpl


def __getattr__(name: str) -> Any:
    # Lazy so that importing django_rclone never touches Django settings or plugins.
    if name == "hookimpl":
        from django_rclone.plugins import hookimpl

        return hookimpl
    if name in {"backup", "drill", "restore", "list_backups", "media_backup", "media_restore"}:
        from django_rclone import api

        return getattr(api, name)
    raise AttributeError(f"module 'django_rclone' has no attribute {name!r}")
