"""Connectors written the way users write them (BaseConnector subclasses named by dotted path)."""

from __future__ import annotations

import subprocess
from typing import IO

from django_rclone.db.base import BaseConnector


class CatFileConnector(BaseConnector):
    """Like the documented Oracle example: builds its own Popen. Backs up the database file as-is."""

    @property
    def extension(self) -> str:
        return "raw"

    def dump(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["cat", self.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def restore(self, stdin: IO[bytes] | int | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["tee", self.name], stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class NotAConnector:
    pass
