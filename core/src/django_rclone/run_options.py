"""Per-run connector options: what ``dbbackup --schema`` / ``--exclude-tables`` and ``dbrestore
--no-drop`` change for one run, and which connectors honour them.

A command-line flag maps to a connector option a connector already reads with ``option()``
(``SCHEMAS``, ``EXCLUDE``, ``DROP``). A connector declares the options it honours in its
``run_options`` class attribute; a flag the resolved connector does not honour is refused with an
error instead of being silently ignored (a backup without the exclusion you asked for is worse
than no backup run at all).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_rclone.db.base import BaseConnector
from django_rclone.exceptions import DjangoRcloneError

#: Connector option -> the command-line flag that sets it, for error messages.
FLAGS: dict[str, str] = {
    "SCHEMAS": "--schema",
    "EXCLUDE": "--exclude-tables",
    "DROP": "--no-drop",
}


class UnsupportedRunOption(DjangoRcloneError):
    """A per-run flag was given for a connector that does not honour it."""


def supported(connector: BaseConnector) -> frozenset[str]:
    """The per-run options ``connector`` honours (its ``run_options`` attribute; none by default)."""
    return frozenset(getattr(connector, "run_options", ()))


def apply_run_options(connector: BaseConnector, options: Mapping[str, Any]) -> None:
    """Overlay ``options`` on the connector's settings for this run, refusing unsupported ones."""
    if not options:
        return
    refused = sorted(key for key in options if key not in supported(connector))
    if refused:
        flags = ", ".join(FLAGS.get(key, key) for key in refused)
        raise UnsupportedRunOption(
            f"{flags} is not supported by {type(connector).__name__} (database {connector.database!r}); "
            "see docs/commands.md for the connectors that support it"
        )
    connector.settings.update(options)
