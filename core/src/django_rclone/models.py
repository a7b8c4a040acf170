"""The one model of the app: a permission holder for the backup status page.

django-rclone keeps no data in the database. ``BackupStatus`` is unmanaged (no table is created or
queried); it exists so the admin can list the status page and so staff can be given the dedicated
``django_rclone.view_backup_status`` permission.
"""

from __future__ import annotations

from django.db import models


class BackupStatus(models.Model):
    """The read-only backup status page in the Django admin (no table behind it)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_backup_status", "Can view the backup status page")]
        verbose_name = "backup status"
        verbose_name_plural = "backup status"

    def __str__(self) -> str:
        return "backup status"
