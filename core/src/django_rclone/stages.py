"""Labels for pipeline stages, so errors name the tool that failed."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from django_rclone.db.base import BaseConnector, CommandConnector
from django_rclone.pipeline import Stage
from django_rclone.rclone import clean_stderr
from django_rclone.secrecy import scrub


def tool_stage(proc: subprocess.Popen[bytes], connector: BaseConnector, phase: str) -> Stage:
    """A stage for a connector's process, labelled with the tool's name (see ``BaseConnector.tool_label``);
    a dump keeps the stderr lines matching ``BaseConnector.dump_report``."""
    stage = _labelled(proc, connector, phase)
    pattern = getattr(connector, "dump_report", "") if phase.upper() == "DUMP" else ""
    if pattern:
        stage.keep = re.compile(pattern)
    return stage


def _labelled(proc: subprocess.Popen[bytes], connector: BaseConnector, phase: str) -> Stage:
    label = getattr(connector, "tool_label", None)
    tool = str(label(phase.upper()) or "") if callable(label) else ""
    if tool:
        return Stage(f"{tool} ({phase.lower()} of database {connector.database!r})", proc)
    if isinstance(connector, CommandConnector):
        tool = str(
            connector.option(f"{phase}_CMD") or (connector.dump_cmd if phase == "DUMP" else connector.restore_cmd)
        )
    if not tool:
        args = proc.args
        first = args[0] if isinstance(args, (list, tuple)) and args else args
        tool = str(first)
    return Stage(f"{Path(tool).name} ({phase.lower()} of database {connector.database!r})", proc)


def rclone_stage(proc: subprocess.Popen[bytes], action: str, secrets: Sequence[str] = ()) -> Stage:
    """A stage for an rclone process; its stderr loses the config notice and every secret value."""
    return Stage(f"rclone {action}", proc, clean=lambda raw: scrub(clean_stderr(raw), secrets))
