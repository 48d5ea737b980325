from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from approvals.models import ApprovalDecision, ApprovalPolicy, ApprovalRequest


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = ["playbook", "required_approvals"]
    autocomplete_fields = ["playbook"]


class DecisionInline(admin.TabularInline):
    model = ApprovalDecision
    fields = ["actor", "approved", "option_id", "comment", "decided"]
    readonly_fields = ["actor", "approved", "option_id", "comment", "decided"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    """A read-only record; decisions are made on the approval pages or the API."""

    list_display = ["pk", "status", "summary", "target_label", "playbook", "requested"]
    list_filter = ["status", "playbook"]
    search_fields = ["summary", "target_label", "action"]
    list_select_related = ["playbook"]
    inlines = [DecisionInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
