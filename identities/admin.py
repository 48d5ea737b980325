"""Admin for provider accounts and confirmed identity links."""

from django.contrib import admin

from identities.models import IdentityLink, ProviderAccount


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    list_display = ["login", "display_name", "status", "connector", "last_read"]
    list_filter = ["connector", "status"]
    search_fields = ["login", "display_name", "email", "provider_user_id"]
    list_select_related = ["connector"]


@admin.register(IdentityLink)
class IdentityLinkAdmin(admin.ModelAdmin):
    list_display = ["username", "account", "connector", "confirmed_by", "confirmed_at"]
    list_filter = ["connector"]
    search_fields = ["username", "account__login"]
    list_select_related = ["account__connector", "connector", "confirmed_by"]
    readonly_fields = ["confirmed_by", "confirmed_at", "approval_id"]
