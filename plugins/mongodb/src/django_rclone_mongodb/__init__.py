"""MongoDB connector for django-rclone: ``mongodump --archive`` streamed into rclone and back."""

from __future__ import annotations

from django_rclone_mongodb.connectors import MongoDumpConnector

__version__ = "0.2.0"
__all__ = ["MongoDumpConnector", "__version__"]
