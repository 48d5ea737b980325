from django.contrib import admin

from approvals.models import ApprovalPolicy


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = ["playbook", "required_approvals"]
    autocomplete_fields = ["playbook"]
