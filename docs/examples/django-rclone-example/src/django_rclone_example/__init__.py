"""django-rclone-example: a complete, installable django-rclone plugin to copy from.

It serves one made-up engine, ``acme.db.backends.sqlite`` (think of an in-house Django backend
built on SQLite), with :class:`~django_rclone_example.connectors.AcmeSqliteConnector`.
"""

from __future__ import annotations

__version__ = "0.1.0"
