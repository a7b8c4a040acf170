"""The one model of the app: a permission holder for the backup status page.

django-rclone keeps no data in the database. ``BackupStatus`` exists so the admin can list the status
page and so staff can be given the dedicated ``django_rclone.view_backup_status`` permission. Its
table is created by the migration and stays empty; it is a real (managed) table rather than an
unmanaged model because ``dumpdata`` (and so the ``dumpdata`` connector) reads every model's table,
and would fail on a model without one.
"""

from __future__ import annotations

from django.db import models


class BackupStatus(models.Model):
    """The read-only backup status page in the Django admin (its table stays empty)."""

    class Meta:
        default_permissions = ()
        permissions = [("view_backup_status", "Can view the backup status page")]
        verbose_name = "backup status"
        verbose_name_plural = "backup status"

    def __str__(self) -> str:
        return "backup status"
