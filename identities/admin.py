"""Admin for provider accounts and confirmed identity links.

A link added or changed here is a confirmation by the signed-in admin, so it
goes through `confirm_link`, which records who confirmed it and an event.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from connectors.choices import ConnectorKind
from connectors.models import Connector
from identities.actions import confirm_link
from identities.models import IdentityLink, ProviderAccount

NOT_OKTA = "Choose an Okta connector; identities link Okta accounts only."


def okta_connector_field(form: forms.ModelForm) -> None:
    """Limit the connector choices to Okta, with a clear error for any other."""
    field = form.fields.get("connector")
    if not isinstance(field, forms.ModelChoiceField):
        return
    field.queryset = Connector.objects.filter(kind=ConnectorKind.OKTA)
    field.error_messages["invalid_choice"] = NOT_OKTA


class ProviderAccountForm(forms.ModelForm):
    class Meta:
        model = ProviderAccount
        fields = [
            "connector",
            "provider_user_id",
            "login",
            "display_name",
            "email",
            "status",
            "last_read",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        okta_connector_field(self)


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    form = ProviderAccountForm
    list_display = ["login", "display_name", "status", "connector", "last_read"]
    list_filter = ["connector", "status"]
    search_fields = ["login", "display_name", "email", "provider_user_id"]
    list_select_related = ["connector"]


class IdentityLinkForm(forms.ModelForm):
    class Meta:
        model = IdentityLink
        fields = ["connector", "username", "account"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        okta_connector_field(self)
        account = self.fields.get("account")
        if isinstance(account, forms.ModelChoiceField):
            account.queryset = ProviderAccount.objects.filter(
                connector__kind=ConnectorKind.OKTA
            ).select_related("connector")


@admin.register(IdentityLink)
class IdentityLinkAdmin(admin.ModelAdmin):
    form = IdentityLinkForm
    list_display = ["username", "account", "connector", "confirmed_by", "confirmed_at"]
    list_filter = ["connector"]
    search_fields = ["username", "account__login"]
    list_select_related = ["account__connector", "connector", "confirmed_by"]
    readonly_fields = ["confirmed_by", "confirmed_at", "approval_id"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: IdentityLink | None = None
    ) -> list[str]:
        # A link is the confirmation for one user string on one connector;
        # another user or connector is a new link.
        if obj is not None:
            return ["connector", "username", *self.readonly_fields]
        return list(self.readonly_fields)

    def save_model(
        self,
        request: HttpRequest,
        obj: IdentityLink,
        form: forms.ModelForm,
        change: bool,
    ) -> None:
        if change and "account" not in form.changed_data:
            return
        account = obj.account
        # NOTE: confirm_link also sets the account's last_read to now, although
        # the admin confirms the account as stored without reading Okta.
        link = confirm_link(
            obj.username,
            obj.connector,
            account.provider_user_id,
            account.login,
            actor=request.user,
            display_name=account.display_name,
            status=account.status,
        )
        obj.pk = link.pk
        obj.refresh_from_db()
