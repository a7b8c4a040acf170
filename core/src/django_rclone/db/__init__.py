"""Connector base classes (``django_rclone.db.base``) and import-path shims for 0.1.0 settings."""
