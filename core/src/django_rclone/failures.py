"""Failure signals: which stage an operation was in when it failed, and telling receivers about it.

An operation function is decorated with ``reports_failures(signal)`` and marks its progress with
one-line ``reached(stage)`` calls. When it raises, the decorator sends ``signal`` with the exception
and the stage, through ``send_after`` (a broken receiver is logged, never raised), then re-raises the
original exception unchanged. Pipeline errors are refined to the process that failed first, so a
``pg_dump`` error reports ``"dump"`` and an ``rclone rcat`` error ``"upload"``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from django.dispatch import Signal

from django_rclone.exceptions import IntegrityError, PipelineError, RcloneError
from django_rclone.signals import send_after

#: Resolving settings and the connector, picking the backup name or the backup to restore.
PREPARE = "prepare"
#: The dump tool (backup) failed.
DUMP = "dump"
#: ``rclone rcat`` failed while storing the backup.
UPLOAD = "upload"
#: Writing the manifest (the commit record) failed.
COMMIT = "commit"
#: ``--clean`` after a committed backup failed (the new backup itself is complete).
RETENTION = "retention"
#: The undo backup ``dbrestore`` takes before replacing a database failed (nothing was restored).
UNDO = "undo"
#: ``rclone cat`` failed while reading the backup.
DOWNLOAD = "download"
#: The backup did not match its manifest (size or SHA-256), or the manifest was unreadable.
VERIFY = "verify"
#: The restore tool failed.
RESTORE = "restore"
#: ``rclone sync`` of the media files failed.
SYNC = "sync"
#: Copying a committed backup to a remote in ``COPIES`` failed (the primary is complete and kept);
#: the signal also carries ``remote``.
COPY = "copy"
#: A restore drill: creating or dropping the scratch database, counting its rows, or the restored
#: scratch database did not match what the backup recorded.
DRILL = "drill"

STAGES = (PREPARE, DUMP, UPLOAD, COMMIT, RETENTION, UNDO, DOWNLOAD, VERIFY, RESTORE, SYNC, COPY, DRILL)

F = TypeVar("F", bound=Callable[..., Any])


class _Progress:
    """Where the running operation is; ``info`` collects extra signal arguments (``path``)."""

    def __init__(self) -> None:
        self.stage = PREPARE
        self.info: dict[str, Any] = {}


_current: ContextVar[_Progress | None] = ContextVar("django_rclone_progress", default=None)


def reached(stage: str, **info: Any) -> None:
    """Record that the running operation entered ``stage`` (no-op outside a decorated operation)."""
    progress = _current.get()
    if progress is not None:
        progress.stage = stage
        progress.info.update(info)


def stage_of(exc: BaseException, stage: str) -> str:
    """Refine ``stage`` with what the exception says: which pipeline process failed first."""
    if isinstance(exc, IntegrityError):
        return VERIFY
    if isinstance(exc, PipelineError) and stage in (DUMP, UPLOAD, DOWNLOAD, RESTORE):
        from_rclone = exc.process.startswith("rclone")
        if stage in (DUMP, UPLOAD):
            return UPLOAD if from_rclone else DUMP
        return DOWNLOAD if from_rclone else RESTORE
    if isinstance(exc, RcloneError) and stage in (DUMP, RESTORE):
        return UPLOAD if stage == DUMP else DOWNLOAD
    return stage


def reports_failures(signal: Signal, *arguments: str, **defaults: Any) -> Callable[[F], F]:
    """Send ``signal`` when the decorated operation raises, with ``exception`` and ``stage``.

    ``arguments`` name parameters of the operation passed on to receivers (``database``),
    ``defaults`` are arguments always sent (``path=None`` until ``reached`` sets it); the
    ``sender`` parameter becomes the signal's sender. ``KeyboardInterrupt`` and ``SystemExit`` are
    not reported (the operations turn SIGINT/SIGTERM into ``Interrupted``, which is).
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            progress = _Progress()
            token = _current.set(progress)
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                extra = {name: bound.arguments.get(name) for name in arguments}
                send_after(
                    signal,
                    sender=bound.arguments.get("sender"),
                    **extra,
                    **{**defaults, **progress.info},
                    exception=exc,
                    stage=stage_of(exc, progress.stage),
                )
                raise
            finally:
                _current.reset(token)

        return cast(F, wrapper)

    return decorate
