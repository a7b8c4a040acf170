"""A CommandConnector running the stand-in tools, for fault injection through the real pipeline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


class BadReportStandinConnector(StandinConnector):
    """A careless connector: its ``dump_report`` is not a valid regular expression, so building the
    dump's stage fails after the dump tool and ``rclone rcat`` have both been started."""

    dump_report = "([unclosed"


class BadRestoreLabelStandinConnector(StandinConnector):
    """A careless connector whose ``tool_label`` raises for the restore: the failure comes after the
    restore tool and ``rclone cat`` have both been started."""

    def tool_label(self, phase: str) -> str:
        if phase == "RESTORE":
            raise RuntimeError("label lookup failed")
        return ""


class NoPipeStandinConnector(StandinConnector):
    """A connector that starts its dump without a pipe on stdout (the contract asks for one)."""

    def dump(self) -> subprocess.Popen[bytes]:
        return self.spawn(self.dump_argv(), self.environment("DUMP"), stdout=subprocess.DEVNULL)


def _long_step(swallow: bool) -> None:
    """Thirty seconds to interrupt; with ``swallow`` the exception (``Interrupted`` included) is
    caught, the way careless connector code does."""
    try:
        time.sleep(30)
    except Exception:
        if not swallow:
            raise


class SlowEstimateStandinConnector(StandinConnector):
    """Its size estimate (asked for a progress display once the name is claimed) takes long enough
    to interrupt; it first touches the file named by the ``ESTIMATING`` option. With ``SWALLOW``
    it catches every exception, the interrupt included, the way careless connector code does."""

    def estimated_size(self) -> int | None:
        Path(self.option("ESTIMATING")).touch()
        _long_step(swallow=bool(self.option("SWALLOW")))
        return 1


class SwallowingFinishStandinConnector(StandinConnector):
    """Its ``dump_finished()`` (after the stream, before the manifest) takes long enough to interrupt
    and catches every exception, the interrupt included; it first touches ``FINISHING``."""

    def dump_finished(self) -> dict[str, object]:
        Path(self.option("FINISHING")).touch()
        _long_step(swallow=True)
        return {}


class SignalledWhileStartingStandinConnector(StandinConnector):
    """SIGINT reaches this process just after the dump tool started, before ``dump()`` returned it:
    the window in which an exception would leave the process running with nobody to stop it."""

    def dump(self) -> subprocess.Popen[bytes]:
        proc = super().dump()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the handler runs here
        return proc
