"""Progress reporting for long operations, decoupled from how it is shown.

The pipeline calls ``advance()`` once per chunk (about once per MiB) with the running byte count;
whoever wants to show progress installs a ``Reporter`` for the duration of an operation with
``reporting()``. With no reporter installed, ``advance()`` is one context-variable lookup, so
the Python API, cron jobs and tests pay nothing. A context variable (rather than a parameter
threaded through every operation) keeps the operations' signatures unchanged and is safe with
threads and asyncio: each context sees only its own reporter.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Protocol


class Reporter(Protocol):
    """Receives the running byte count of the stream in progress."""

    def update(self, done: int) -> None:
        """``done`` bytes have gone through the pipe so far (monotonically increasing)."""


_current: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("django_rclone_progress", default=None)


def advance(done: int) -> None:
    """Tell the active reporter, if any, that ``done`` bytes went through so far."""
    reporter = _current.get()
    if reporter is not None:
        reporter.update(done)


def expect(total: int | None, *, estimated: bool = False) -> None:
    """Tell the active reporter how many bytes the next stream should carry.

    ``total`` comes from a manifest (restore, verify: exact) or from the connector's
    ``estimated_size()`` (backup: ``estimated=True``, since a dump is rarely the size of the
    database); ``None`` means unknown. Reporters without an ``expect`` method ignore it.
    """
    reporter = _current.get()
    method = getattr(reporter, "expect", None)
    if method is not None:
        method(total, estimated=estimated)


def active() -> Reporter | None:
    """The reporter installed in this context, or ``None``."""
    return _current.get()


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Install ``reporter`` for the operations run inside the block (``None`` installs nothing)."""
    token = _current.set(reporter)
    try:
        yield
    finally:
        _current.reset(token)


class Throughput:
    """Bytes, elapsed seconds and average rate of one stream, measured from construction."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Average bytes per second so far (0 before any time has passed)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0
