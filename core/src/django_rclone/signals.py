"""Django signals sent around every operation.

Keyword arguments (besides ``sender``, the command class or ``None`` from the Python API):

- ``pre_db_backup``: ``database``, ``connector``
- ``post_db_backup``: ``database``, ``connector``, ``path`` (object name on the remote), ``result``
- ``pre_db_restore``: ``database``, ``connector``, ``path``
- ``post_db_restore``: ``database``, ``connector``, ``path``, ``result``
- ``pre_media_backup`` / ``pre_media_restore``: ``source``, ``destination``
- ``post_media_backup`` / ``post_media_restore``: ``source``, ``destination``, ``result``
"""

from __future__ import annotations

from django.dispatch import Signal

pre_db_backup = Signal()
post_db_backup = Signal()
pre_db_restore = Signal()
post_db_restore = Signal()
pre_media_backup = Signal()
post_media_backup = Signal()
pre_media_restore = Signal()
post_media_restore = Signal()
