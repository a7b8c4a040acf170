"""The read-only backup status page in the Django admin.

Staff with the ``django_rclone.view_backup_status`` permission see, per database alias, the newest
backup, its age, size, codec and verification state, a chart of sizes and durations, and what the
next clean-up would delete. The page has no buttons that change anything.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from django_rclone import status
from django_rclone.models import BackupStatus

PERMISSION = "django_rclone.view_backup_status"


@admin.register(BackupStatus)
class BackupStatusAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Shows ``status.report()``; every write permission is refused."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and user.has_perm(PERMISSION))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [path("", self.admin_site.admin_view(self.changelist_view), name="{}_{}_changelist".format(*info))]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        found, notice = status.report()
        context = {
            **self.admin_site.each_context(request),
            "title": "Backup status",
            "opts": self.opts,
            "report": found,
            "collected_at": found.collected_at.strftime("%Y-%m-%d %H:%M:%S") if found else "",
            "notice": notice,
            "rows": [_row(alias) for alias in found.aliases] if found else [],
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/django_rclone/status.html", context)


def _row(alias: status.AliasStatus) -> dict[str, Any]:
    newest = alias.newest
    return {
        "database": alias.database,
        "newest": newest.name if newest else "",
        "created": newest.created if newest else "",
        "age": status.human_age(alias.age),
        "size": status.human_size(newest.size) if newest else "",
        "codec": alias.codec if newest else "",
        "verified": alias.verified,
        "copies": alias.copies if newest else "",
        "last_drill": alias.last_drill,
        "count": len(alias.backups),
        "total": status.human_size(alias.total_size),
        "chart": alias.chart(),
        "doomed": alias.doomed,
    }
