"""A real (if tiny) Django database backend for the example's in-house engine.

Django loads ``DATABASES[alias]["ENGINE"]`` by importing ``<ENGINE>.base`` and using its
``DatabaseWrapper``, so the ENGINE a plugin claims must be a backend like this one, never a made-up
string. This one is Django's SQLite backend under the Acme name, standing in for an in-house
backend built on SQLite.
"""

from __future__ import annotations

from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteDatabaseWrapper


class DatabaseWrapper(SQLiteDatabaseWrapper):
    """Django's SQLite backend, loaded under the example's ENGINE."""
