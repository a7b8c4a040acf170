"""``BackupStatus``: an always-empty table whose model carries the status page permission."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []  # type: ignore[var-annotated]

    operations = [
        migrations.CreateModel(
            name="BackupStatus",
            fields=[("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
            options={
                "verbose_name": "backup status",
                "verbose_name_plural": "backup status",
                "permissions": [("view_backup_status", "Can view the backup status page")],
                "default_permissions": (),
            },
        ),
    ]
