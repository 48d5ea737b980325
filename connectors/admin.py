"""Admin for connectors: the secret is write-only and a connection test."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from connectors.actions import check_connector
from connectors.choices import ConnectorKind, OktaAuthType
from connectors.crypto import SecretDecryptionError
from connectors.models import Connector
from connectors.okta import load_rsa_private_key


class SecretTextarea(forms.Textarea):
    """A textarea that never renders its value, even after a form error."""

    def format_value(self, value: Any) -> None:
        return None


class ConnectorForm(forms.ModelForm):
    base_url = forms.URLField(
        label="base URL",
        required=False,
        assume_scheme="https",
        help_text=Connector._meta.get_field("base_url").help_text,
    )
    secret = forms.CharField(
        required=False,
        strip=True,
        widget=SecretTextarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="Okta API token, the service app's private key (PEM), the Slack "
        "webhook URL or whsec_ signing secrets. Never shown again; leave blank "
        "to keep the stored one.",
    )

    class Meta:
        model = Connector
        fields = [
            "kind",
            "name",
            "base_url",
            "enabled",
            "is_sandbox",
            "okta_auth_type",
            "client_id",
            "key_id",
            "scopes",
            "login_suffixes",
            "sam_attribute",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        has_stored = bool(self.instance.pk and self.instance.has_secret)
        if not cleaned.get("secret") and not has_stored:
            self.add_error("secret", "Enter a secret: this connector has none yet.")
        elif self._uses_okta_oauth(cleaned):
            self._check_private_key(cleaned.get("secret", ""))
        return cleaned

    @staticmethod
    def _uses_okta_oauth(cleaned: dict[str, Any]) -> bool:
        return (
            cleaned.get("kind") == ConnectorKind.OKTA
            and cleaned.get("okta_auth_type") == OktaAuthType.OAUTH
        )

    def _check_private_key(self, entered: str) -> None:
        """Reject a secret that cannot sign Okta client assertions.

        A blank field keeps the stored secret, which is checked instead, so that
        switching an API-token connector to OAuth needs the key as well.
        """
        if entered:
            secret, source = entered, "Secret"
        else:
            source = "The stored secret"
            try:
                secret = self.instance.get_secret()
            except SecretDecryptionError as error:
                self.add_error("secret", f"{source}: {error}")
                return
        try:
            load_rsa_private_key(secret)
        except ValueError as error:
            self.add_error(
                "secret",
                f"{source}: {error}. OAuth needs the service app's RSA private key "
                "in PEM.",
            )

    def save(self, commit: bool = True) -> Connector:
        connector = super().save(commit=False)
        if self.cleaned_data.get("secret"):
            connector.set_secret(self.cleaned_data["secret"])
        if commit:
            connector.save()
        return connector


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    form = ConnectorForm
    list_display = [
        "name",
        "kind",
        "sandbox_label",
        "enabled",
        "last_checked",
        "last_check_ok",
    ]
    list_filter = ["kind", "enabled", "is_sandbox"]
    search_fields = ["name", "base_url"]
    readonly_fields = [
        "secret_stored",
        "last_checked",
        "last_check_ok",
        "last_check_message",
    ]
    actions = ["test_connection"]

    @admin.display(description="environment")
    def sandbox_label(self, connector: Connector) -> str:
        return "SANDBOX (not a real tenant)" if connector.is_sandbox else "production"

    @admin.display(description="secret")
    def secret_stored(self, connector: Connector) -> str:
        if not connector.has_secret:
            return "none stored"
        return f"stored, last changed {connector.secret_changed:%Y-%m-%d %H:%M} UTC"

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        for connector in queryset:
            ok, message = check_connector(connector, actor=request.user)
            level = messages.SUCCESS if ok else messages.ERROR
            # The admin capitalises each message's first letter, so the name
            # comes after a word and stays as entered.
            self.message_user(request, f"Connector {connector}: {message}", level)
