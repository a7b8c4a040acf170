"""The core's own hook implementations: the default behaviour, itself a plugin.

They run last (``trylast``), so any installed plugin can answer first.
"""

from __future__ import annotations

import subprocess

from django_rclone.db.base import BaseConnector, StdinSource
from django_rclone.plugins import hookimpl
from django_rclone.sample import StreamSample


@hookimpl(trylast=True)
def django_rclone_dump(connector: BaseConnector) -> subprocess.Popen[bytes]:
    return connector.dump()


@hookimpl(trylast=True)
def django_rclone_check_dump(connector: BaseConnector, sample: StreamSample) -> None:
    connector.check_dump(sample)


@hookimpl(trylast=True)
def django_rclone_restore(connector: BaseConnector, stdin: StdinSource) -> subprocess.Popen[bytes]:
    return connector.restore(stdin)


@hookimpl(trylast=True)
def django_rclone_extension(connector: BaseConnector) -> str:
    ext = connector.option("EXTENSION") or connector.extension
    return str(ext).lstrip(".")
