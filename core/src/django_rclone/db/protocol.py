"""Structural connectors: any object with ``dump(db_alias, dest)`` and ``restore(db_alias, src)``.

This is the connector protocol of django-snapshots. Those methods work on file paths; here the path
is a named pipe (FIFO) in a private 0700 folder, so the bytes still stream to and from rclone with
no temporary file. ``cat`` sits on the other end of the pipe as the process the core supervises,
while the object's method runs in a thread.

Limits: the object must read or write its path sequentially (no seeking), and because a thread
cannot be stopped mid-way, the backup is verified against its manifest before the restore starts.
The dict ``dump()`` returns lands in the manifest's ``metadata``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django_rclone.db.base import BaseConnector, Phase, StdinSource
from django_rclone.exceptions import DjangoRcloneError


class StructuralConnectorError(DjangoRcloneError):
    """The structural connector's own ``dump``/``restore`` raised."""


def is_structural(target: object) -> bool:
    return callable(getattr(target, "dump", None)) and callable(getattr(target, "restore", None))


class StructuralConnector(BaseConnector):
    """Adapts a ``dump(db_alias, dest) -> dict`` / ``restore(db_alias, src)`` object to the core."""

    verify_before_restore = True

    def __init__(self, target: Any, database: str = "default", options: Mapping[str, Any] | None = None) -> None:
        super().__init__(database, options)
        self.target = target
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._result: Any = None

    @property
    def extension(self) -> str:  # type: ignore[override]
        return str(self.option("EXTENSION") or getattr(self.target, "extension", None) or "dump")

    def describe(self) -> str:
        kind = self.target if isinstance(self.target, type) else type(self.target)
        return f"{kind.__module__}.{kind.__qualname__}"

    def tool_label(self, phase: Phase) -> str:
        return f"{self.describe()}.{phase.lower()}()"

    def _fifo(self, name: str) -> Path:
        folder = tempfile.mkdtemp(prefix="django-rclone-")
        self._private_dirs.append(folder)
        path = Path(folder) / name
        os.mkfifo(path, 0o600)
        return path

    def _start(self, work: Callable[[], Any], held_fd: int) -> None:
        """Run ``work`` in a thread; close ``held_fd`` (our end of the pipe) when it ends."""

        def run() -> None:
            try:
                self._result = work()
            except BaseException as exc:
                self._error = exc
            finally:
                os.close(held_fd)

        self._thread = threading.Thread(target=run, name=f"django-rclone-{self.database}", daemon=True)
        self._thread.start()

    def _join(self, action: str) -> Any:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise StructuralConnectorError(f"{self.describe()}.{action}({self.database!r}) failed: {error}") from error
        return self._result

    def dump(self) -> subprocess.Popen[bytes]:
        # We open both ends ourselves: ``cat`` reads the FIFO on its stdin, and we hold a write end
        # until the object's dump() returns, so ``cat`` sees end-of-file only then (even if dump()
        # fails before it ever opens the path, or opens and closes it more than once).
        fifo = self._fifo(f"{self.database}.{self.extension}")
        read_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(read_fd, True)
        held = os.open(fifo, os.O_WRONLY)
        try:
            proc = subprocess.Popen(
                ["cat"], stdin=read_fd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
            )
        except BaseException:
            os.close(held)
            raise
        finally:
            os.close(read_fd)
        self._start(lambda: self.target.dump(self.database, fifo), held)
        return proc

    def restore(self, stdin: StdinSource = None) -> subprocess.Popen[bytes]:
        # ``cat`` writes the stream into the FIFO; we hold a read end until the object's restore()
        # returns, so ``cat`` never blocks on open and gets EPIPE if restore() gives up early.
        fifo = self._fifo(f"{self.database}.{self.extension}")
        held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        write_fd = os.open(fifo, os.O_WRONLY)
        try:
            proc = subprocess.Popen(
                ["cat"], stdin=stdin, stdout=write_fd, stderr=subprocess.PIPE, start_new_session=True
            )
        except BaseException:
            os.close(held)
            raise
        finally:
            os.close(write_fd)
        self._start(lambda: self.target.restore(self.database, fifo), held)
        return proc

    def dump_finished(self) -> dict[str, Any]:
        result = self._join("dump")
        return dict(result) if isinstance(result, Mapping) else {}

    def restore_finished(self) -> None:
        self._join("restore")

    def cleanup(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=30)
        super().cleanup()
