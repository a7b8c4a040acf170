"""The terminal progress line of the management commands.

On a terminal (stderr is a TTY) and at verbosity 1 or more, long operations redraw one line with
bytes so far, average rate and elapsed time, at most a few times a second. When the operation
knows the stream's size (a restore or a verify: the manifest has it) the line adds the total, the
percentage and the time left; a backup shows the same from the database's size when the connector
reports one, marked as an estimate (``~``, ``est.``), since a dump is rarely the database's size. Anywhere else (cron,
pipes, CI logs) nothing is drawn, and the command prints only its one-line summary; ``-v 0``
prints nothing but errors. The line goes to stderr so that stdout stays clean for the summary.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from django_rclone import progress
from django_rclone.management.base import human_size

#: Seconds between two redraws: often enough to look alive, rare enough to cost nothing.
REDRAW_INTERVAL = 0.25


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _left(remaining: float, rate: float) -> str:
    return _clock(remaining / rate) if rate > 0 else "-:--"


class TerminalProgress(progress.Throughput):
    """Redraws ``label: 1.2 GiB  85.3 MiB/s  0:14`` in place on a terminal stream; with a known
    total ``label: 1.2 GiB of 4.0 GiB (30%)  85.3 MiB/s  0:14  0:33 left``, with an estimated one
    ``label: 1.2 GiB of ~4.0 GiB (est. 30%)  85.3 MiB/s  0:14  ~0:33 left``."""

    def __init__(self, stream: Any, label: str) -> None:
        super().__init__()
        self.stream = stream
        self.label = label
        self.drawn = 0
        self.last_draw = 0.0
        self.total: int | None = None
        self.estimated = False

    def expect(self, total: int | None, *, estimated: bool = False) -> None:
        """A new stream of ``total`` bytes (``None``: unknown) starts: measure it from zero."""
        self.total = total if total is not None and total > 0 else None
        self.estimated = estimated
        self.started = time.monotonic()
        self.done = 0

    def line(self) -> str:
        head = f"{self.label}: {human_size(self.done)}"
        tail = f"  {human_size(self.rate)}/s  {_clock(self.elapsed)}"
        total = self.total
        if total is None:
            return head + tail
        if not self.estimated:
            percent = min(100, self.done * 100 // total)
            left = _left(max(0, total - self.done), self.rate)
            return f"{head} of {human_size(total)} ({percent}%){tail}  {left} left"
        if self.done > total:
            return f"{head} (more than the ~{human_size(total)} estimate){tail}"
        percent = self.done * 100 // total
        return f"{head} of ~{human_size(total)} (est. {percent}%){tail}  ~{_left(total - self.done, self.rate)} left"

    def update(self, done: int) -> None:
        super().update(done)
        now = time.monotonic()
        if now - self.last_draw >= REDRAW_INTERVAL:
            self.last_draw = now
            self.draw()

    def draw(self) -> None:
        text = self.line()
        self.stream.write("\r" + text.ljust(self.drawn), ending="", style_func=lambda s: s)
        self.stream.flush()
        self.drawn = len(text)

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * self.drawn + "\r", ending="", style_func=lambda s: s)
            self.stream.flush()
            self.drawn = 0


def wants_progress(command: Any) -> bool:
    """True when ``command`` runs at verbosity >= 1 with stderr on a terminal."""
    isatty = getattr(command.stderr, "isatty", None)
    return getattr(command, "verbosity", 1) >= 1 and bool(isatty and isatty())


@contextlib.contextmanager
def shown(command: Any, label: str) -> Iterator[TerminalProgress | None]:
    """Show a progress line for the operations inside the block when ``wants_progress()``.

    The line is erased when the block ends (successfully or not), so the summary or the error
    message that follows starts on a clean line.
    """
    display = TerminalProgress(command.stderr, label) if wants_progress(command) else None
    try:
        with progress.reporting(display):
            yield display
    finally:
        if display is not None:
            display.clear()
