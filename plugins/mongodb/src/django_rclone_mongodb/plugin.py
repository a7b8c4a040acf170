"""django-rclone plugin entry point: the Django engines this distribution backs up."""

from __future__ import annotations

from django_rclone import hookimpl

#: Django database engines that keep their data in MongoDB.
ENGINES = (
    "djongo",
    "django_mongodb_engine",
    "django_mongodb_backend",
)

CONNECTOR = "django_rclone_mongodb.connectors.MongoDumpConnector"


@hookimpl
def django_rclone_engines() -> dict[str, str]:
    """Map every MongoDB engine to ``MongoDumpConnector``."""
    return dict.fromkeys(ENGINES, CONNECTOR)
