"""Django signals sent around every operation.

Keyword arguments (besides ``sender``, the command class or ``None`` from the Python API):

- ``pre_db_backup``: ``database``, ``connector``
- ``post_db_backup``: ``database``, ``connector``, ``path`` (object name on the remote), ``result``
- ``pre_db_restore``: ``database``, ``connector``, ``path``
- ``post_db_restore``: ``database``, ``connector``, ``path``, ``result``
- ``pre_media_backup`` / ``pre_media_restore``: ``source``, ``destination``
- ``post_media_backup`` / ``post_media_restore``: ``source``, ``destination``, ``result``
- ``db_backup_failed`` / ``db_restore_failed``: ``database``, ``path`` (the backup name, or ``None``
  when the failure came before one was chosen), ``exception``, ``stage``
- ``media_backup_failed`` / ``media_restore_failed``: ``exception``, ``stage``
- ``pre_db_copy``: ``database``, ``path``, ``remote`` (a remote from ``COPIES``)
- ``post_db_copy``: ``database``, ``path``, ``remote``, ``result`` (a ``copies.CopyResult``)
- ``db_copy_failed``: ``database``, ``path``, ``remote``, ``exception``, ``stage`` (``"copy"``)

A backup whose copy fails also sends ``db_backup_failed`` with ``stage="copy"`` and ``remote``.

- ``pre_db_drill``: ``database``, ``connector``, ``path`` (the backup drilled)
- ``post_db_drill``: ``database``, ``connector``, ``path``, ``result`` (a ``DrillResult`` that passed)
- ``db_drill_failed``: ``database``, ``path``, ``exception``, ``stage`` (``DrillFailed`` with stage
  ``"drill"`` when the scratch database did not match the backup's record)

``stage`` is one of the names in ``django_rclone.failures`` (``"prepare"``, ``"dump"``,
``"upload"``, ``"commit"``, ``"retention"``, ``"download"``, ``"verify"``, ``"restore"``,
``"sync"``, ``"copy"``, ``"drill"``). The ``*_failed`` signals are sent just before the exception
propagates; the exception is re-raised unchanged whatever the receivers do.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger("django_rclone")

pre_db_backup = Signal()
post_db_backup = Signal()
pre_db_restore = Signal()
post_db_restore = Signal()
pre_media_backup = Signal()
post_media_backup = Signal()
pre_media_restore = Signal()
post_media_restore = Signal()
db_backup_failed = Signal()
db_restore_failed = Signal()
media_backup_failed = Signal()
media_restore_failed = Signal()
pre_db_copy = Signal()
post_db_copy = Signal()
db_copy_failed = Signal()
pre_db_drill = Signal()
post_db_drill = Signal()
db_drill_failed = Signal()


def send_after(signal: Signal, **kwargs: Any) -> None:
    """Send a ``post_*`` or ``*_failed`` signal. A receiver's exception is logged, never raised: a
    succeeded operation must not be reported as failed because an alerting hook broke, and a failed
    one must still raise its own error, not the hook's."""
    for receiver, outcome in signal.send_robust(**kwargs):
        if isinstance(outcome, Exception):
            logger.error(
                "django-rclone: signal receiver %r raised %s: %s",
                receiver,
                type(outcome).__name__,
                outcome,
                exc_info=(type(outcome), outcome, outcome.__traceback__),
            )
