"""Hook specifications: the contract between the django-rclone core and its plugins.

A plugin is a module (or object) with functions marked ``@django_rclone.hookimpl`` and named after
the specifications below, registered through the ``django_rclone`` entry-point group:

```toml
[project.entry-points.django_rclone]
postgres = "django_rclone_postgres.plugin"
```

Hooks only ever grow by new keyword arguments; an implementation may accept fewer arguments than
the specification lists (pluggy passes only those it asks for).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from django_rclone.db.base import BaseConnector, StdinSource
    from django_rclone.sample import StreamSample

PROJECT = "django_rclone"

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def django_rclone_engines() -> Mapping[str, Any]:
    """Declare the Django database engines this plugin serves.

    Return a mapping of ``ENGINE`` strings (as written in ``DATABASES``) to the connector that backs
    them up: a ``BaseConnector`` subclass, or its dotted import path. Called for every plugin; the
    answers are merged. When two plugins claim one engine, the plugin registered last wins and the
    core warns; users settle it with ``CONNECTOR_MAPPING``.

    This is rule 3 of connector resolution, after ``CONNECTORS[alias]`` and
    ``CONNECTOR_MAPPING[engine]``.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def django_rclone_dump(connector: BaseConnector, database: str) -> subprocess.Popen[bytes] | None:
    """Start the dump process for ``database`` with its resolved ``connector``.

    Return a started ``Popen`` whose stdout is a pipe carrying the backup bytes (stderr should be a
    pipe too, so failures can be reported), or ``None`` to let the next implementation answer.
    Stops at the first non-None result. The core's own implementation runs last and calls
    ``connector.dump()``; implement this hook to start a dump differently for connectors you own,
    or as a ``hookwrapper``/``wrapper`` to observe every dump.

    Never wait on the process or read its pipes: the core owns the pipeline.
    """


@hookspec
def django_rclone_check_dump(connector: BaseConnector, database: str, sample: StreamSample) -> None:
    """Check a finished dump of ``database`` before it is committed; raise ``IncompleteDump`` if not whole.

    Called once the dump process exited 0, before ``rclone rcat`` receives the end of the stream
    and before the manifest is written; every implementation runs, and any exception fails the
    backup (the upload is stopped and deleted, nothing is listed). ``sample`` is a
    ``django_rclone.sample.StreamSample``: the first bytes (``head``, up to 4 MiB), the last 64 KiB
    (``tail``), the ``size`` of the raw dump and the tool's ``stderr``. The core's own
    implementation calls ``connector.check_dump(sample)``; implement this hook to add a check to
    connectors you do not own.
    """


@hookspec(firstresult=True)
def django_rclone_restore(
    connector: BaseConnector, database: str, stdin: StdinSource
) -> subprocess.Popen[bytes] | None:
    """Start the restore process for ``database``, reading the backup from ``stdin``.

    Return a started ``Popen`` whose stdin is ``stdin`` (pass it through unchanged), or ``None``
    to let the next implementation answer. Stops at the first non-None result. The core's own
    implementation runs last and calls ``connector.restore(stdin)``. Restore tools should apply
    the backup atomically where they can (one transaction), because the core kills the process
    when the stream turns out truncated or corrupt.
    """


@hookspec(firstresult=True)
def django_rclone_extension(connector: BaseConnector, database: str) -> str | None:
    """Return the file extension (without the dot) for backups of ``database``.

    Stops at the first non-None result; the core's own implementation returns the per-alias
    ``EXTENSION`` option if set, else ``connector.extension``. The core appends its compression
    codec's extension to the stored name (``dump`` -> ``....dump.zst``); return the extension of
    the uncompressed dump.
    """
