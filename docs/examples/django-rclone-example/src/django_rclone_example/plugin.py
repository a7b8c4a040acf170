"""Entry point of django-rclone-example: the hook implementations django-rclone loads.

Keep this module cheap to import: it is imported for every command that resolves a connector, so
it names the connector by dotted path instead of importing it.
"""

from __future__ import annotations

from django_rclone import hookimpl

#: ``ENGINE`` strings, as written in ``DATABASES``, that this plugin backs up.
#: ``django_rclone_example.backend`` is a real Django backend (``backend/base.py``): Django must be
#: able to load every ENGINE a plugin claims.
ENGINES = ("django_rclone_example.backend",)


@hookimpl
def django_rclone_engines() -> dict[str, str]:
    """Claim the Acme engine for :class:`~django_rclone_example.connectors.AcmeSqliteConnector`."""
    return {engine: "django_rclone_example.connectors.AcmeSqliteConnector" for engine in ENGINES}
