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
#: While ``deferred()`` holds signals back (processes are being started; see ``resume()``): the
#: handlers to put back.
_held: dict[int, object] | None = None


def _raise(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    _received.append(name)
    raise Interrupted(name)


def _record(signum: int, frame: FrameType | None) -> None:
    _received.append(signal.Signals(signum).name)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _block() -> object:
    """Hold SIGINT/SIGTERM back (they stay pending) while handlers and state change together."""
    mask = getattr(signal, "pthread_sigmask", None)
    return mask(signal.SIG_BLOCK, _SIGNALS) if mask is not None else None


def _unblock(previous: object) -> None:
    """Restore the mask ``_block()`` returned: a pending signal is delivered now, to the handler in place."""
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # type: ignore[arg-type]


def _install(handler: object) -> dict[int, object]:
    """Set ``handler`` for SIGINT and SIGTERM; return the handlers it replaced (for ``_put_back``)."""
    return {sig: signal.signal(sig, handler) for sig in _SIGNALS}  # type: ignore[arg-type]


def _put_back(handlers: dict[int, object]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]


def check() -> None:
    """Raise ``Interrupted`` again if SIGINT/SIGTERM arrived inside the running ``interruptible()``
    block: code between the signal and here may have caught the first one (a connector's
    ``except Exception``), and an interrupted operation must not go on to publish anything.
    Does nothing off the main thread, where no signal is handled."""
    if _in_main_thread() and _depth and _received:
        raise Interrupted(_received[-1])


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Raise ``Interrupted`` on SIGINT/SIGTERM inside the block."""
    global _depth
    if not _in_main_thread():
        yield
        return
    mask = _block()  # a signal during the bookkeeping would leave it half done
    if _depth == 0:
        _received.clear()
    _depth += 1
    previous = _install(_raise)
    try:
        _unblock(mask)  # one that came meanwhile is raised here, inside the block
        yield
    finally:
        _block()
        _put_back(previous)
        _depth -= 1
        if _depth == 0:
            _received.clear()
        _unblock(mask)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Record SIGINT/SIGTERM instead of raising them while processes are being started, until the
    pipeline's supervision owns them and calls ``resume()``, or the block ends.

    Raised between ``Popen`` returning and the process reaching a variable or the supervision, an
    ``Interrupted`` would leave that process running with its pipes open: ``rclone rcat`` would
    upload once they close, a restore tool would commit. Only inside ``interruptible()``, on the
    main thread; elsewhere it does nothing.
    """
    global _held
    if not _in_main_thread() or not _depth or _held is not None:
        yield
        return
    mask = _block()
    _held = _install(_record)
    _unblock(mask)
    try:
        yield
    except BaseException:
        _undefer()
        raise
    _undefer()
    check()


def _undefer() -> None:
    global _held
    if _held is not None:
        mask = _block()
        _put_back(_held)
        _held = None
        _unblock(mask)


def resume() -> None:
    """Raise on SIGINT/SIGTERM again, and at once if one came while ``deferred()`` held it back.
    The pipeline calls this once it supervises the processes, so the exception stops them."""
    _undefer()
    check()


@contextlib.contextmanager
def shield() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM inside the block (cleanup that must finish)."""
    if not _in_main_thread():
        yield
        return
    mask = _block()
    previous = _install(signal.SIG_IGN)
    _unblock(mask)
    try:
        yield
    finally:
        _block()
        _put_back(previous)
        _unblock(mask)
