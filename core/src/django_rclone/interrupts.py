"""Turn SIGINT and SIGTERM into ``Interrupted`` while an operation runs.

The pipeline's cleanup (stop and reap children, delete a half-written object) then runs through
ordinary exception handling. ``shield()`` ignores further signals while cleanup runs, so a second
Ctrl-C cannot leave a half-cleaned state. Outside the main thread (Celery, web workers) signals
cannot be handled and the guard does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from django_rclone.exceptions import Interrupted

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


#: Signals received inside the outermost ``interruptible()`` block now running (main thread only).
_received: list[str] = []
_depth = 0


def _raise(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    _received.append(name)
    raise Interrupted(name)


def check() -> None:
    """Raise ``Interrupted`` again if SIGINT/SIGTERM arrived inside the running ``interruptible()``
    block: code between the signal and here may have caught the first one (a connector's
    ``except Exception``), and an interrupted operation must not go on to publish anything."""
    if _received:
        raise Interrupted(_received[-1])


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Raise ``Interrupted`` on SIGINT/SIGTERM inside the block."""
    if not _in_main_thread():
        yield
        return
    global _depth
    if _depth == 0:
        _received.clear()
    _depth += 1
    previous = {sig: signal.signal(sig, _raise) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _depth -= 1
        if _depth == 0:
            _received.clear()


@contextlib.contextmanager
def shield() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM inside the block (cleanup that must finish)."""
    if not _in_main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
