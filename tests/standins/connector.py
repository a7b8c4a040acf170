"""A CommandConnector running the stand-in tools, for fault injection through the real pipeline."""

from __future__ import annotations

import sys
from pathlib import Path

from django_rclone.db.base import CommandConnector

HERE = Path(__file__).parent


class StandinConnector(CommandConnector):
    """Options: DUMP_ARGS / RESTORE_ARGS (lists) are passed to the stand-in scripts."""

    extension = "bin"
    #: The stand-in restore tool only stores its input; nothing in it can run.
    sandboxed = True
    dump_cmd = sys.executable
    restore_cmd = sys.executable

    def dump_args(self) -> list[str]:
        return [str(HERE / "dump.py"), *self.option("DUMP_ARGS", [])]

    def restore_args(self) -> list[str]:
        return [str(HERE / "restore.py"), *self.option("RESTORE_ARGS", [])]

    def secret_env(self) -> dict[str, str]:
        return {"STANDIN_PASSWORD": self.password} if self.password else {}


class UnguardedStandinConnector(StandinConnector):
    """The stand-in as a connector that does not declare its restore tool sandboxed (the default
    for a third-party connector, e.g. a SQL client that could run commands from its input)."""

    sandboxed = False
