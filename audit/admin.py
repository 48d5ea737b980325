"""Read-only admin pages of the audit timeline, report jobs and share links."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent, ReportJob, ReportShare


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin that lists and shows rows but never adds, edits or deletes."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "created", "kind", "actor_label", "summary")
    search_fields = ("summary", "actor_label", "object_repr")
    show_full_result_count = False
    fields = (
        "sequence",
        "created",
        "kind",
        "summary",
        "actor",
        "actor_label",
        "actor_email",
        "content_type",
        "object_id",
        "object_repr",
        "endpoint_id",
        "playbook_id",
        "playbook_version",
        "run_id",
        "details",
        "previous_hash",
        "hash",
    )


@admin.register(ReportJob)
class ReportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "since",
        "until",
        "status",
        "progress",
        "created_by",
        "created",
    )
    list_filter = ("status",)


@admin.register(ReportShare)
class ReportShareAdmin(ReadOnlyAdmin):
    list_display = ("id", "report", "created_by", "expires", "revoked", "uses")
