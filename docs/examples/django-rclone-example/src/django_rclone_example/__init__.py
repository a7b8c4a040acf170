"""django-rclone-example: a complete, installable django-rclone plugin to copy from.

It serves one engine, ``django_rclone_example.backend`` (an in-house Django backend built on
SQLite, shipped in ``backend/``), with :class:`~django_rclone_example.connectors.AcmeSqliteConnector`.
"""

from __future__ import annotations

__version__ = "0.1.0"
