"""The public API for testing connectors and plugins.

Plugin and connector authors import from here, not from the internal modules behind it:

```python
from django_rclone.testing import isolated_plugins, resolve

def test_my_engine_resolves_to_my_connector():
    with isolated_plugins("firebird"):
        found = resolve("fb")
    assert found.rule == "plugin"
    assert found.detail == "plugin 'firebird'"
```

``resolve(alias)`` is what every command does to pick a connector (``Resolution.connector`` is the
connector built for the alias, ``rule``/``detail`` say why); ``explain(alias)`` is the same without
raising (what ``rcloneplugins`` prints). ``isolated_plugins(*names)`` loads only the named installed
plugins (by entry-point name) for the duration of a ``with`` block, so other installed plugins
cannot answer for your engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from django_rclone.plugins import DISABLE_ENV, PluginHost, PluginInfo, build_host, get_host, reset_host
from django_rclone.resolution import Explanation, Resolution, explain, resolve

__all__ = [
    "Explanation",
    "PluginHost",
    "PluginInfo",
    "Resolution",
    "build_host",
    "explain",
    "get_host",
    "isolated_plugins",
    "reset_host",
    "resolve",
]


@contextmanager
def isolated_plugins(*names: str) -> Iterator[PluginHost]:
    """Load only the installed plugins named here (entry-point names) inside the block.

    Yields the plugin host; the process-wide host is rebuilt from scratch on entry and forgotten on
    exit, and ``DJANGO_RCLONE_DISABLE_PLUGINS`` is restored.
    """
    from importlib.metadata import entry_points

    installed = {ep.name for ep in entry_points(group="django_rclone")}
    missing = sorted(set(names) - installed)
    if missing:
        raise LookupError(f"no installed django_rclone entry point named {missing}; installed: {sorted(installed)}")
    blocked = sorted(installed - set(names))
    previous = os.environ.get(DISABLE_ENV)
    os.environ[DISABLE_ENV] = ",".join(blocked) if blocked else ""
    reset_host()
    try:
        yield get_host()
    finally:
        if previous is None:
            os.environ.pop(DISABLE_ENV, None)
        else:
            os.environ[DISABLE_ENV] = previous
        reset_host()
