"""The Connector: one configured account at a vendor, with its secret encrypted."""

from auditlog.registry import auditlog
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from connectors.choices import OKTA_DEFAULT_SCOPES, ConnectorKind, OktaAuthType
from connectors.crypto import decrypt_secret, encrypt_secret

# The message shown when a connector of each kind has no base URL.
URL_REQUIRED: dict[str, str] = {
    ConnectorKind.OKTA: "An Okta connector needs a URL, such as "
    "https://your-org.okta.com.",
    ConnectorKind.WEBHOOK: "A webhook connector needs the receiver's URL.",
}


class Connector(models.Model):
    """An account at a vendor (Okta, Slack, a webhook receiver) that actions use.

    The secret is the Okta API token, the Okta service app's private key in PEM,
    the Slack webhook URL, or the webhook signing secret(s). It is stored
    encrypted with the keys in EXEC_ENCRYPTION_KEY and never shown back.
    """

    kind = models.CharField(max_length=16, choices=ConnectorKind.choices)
    name = models.CharField(max_length=128, unique=True)
    base_url = models.URLField(
        "base URL",
        blank=True,
        help_text="Okta: https://your-org.okta.com. Webhook: the receiver URL. "
        "Slack: leave blank, because the webhook URL is the secret.",
    )
    enabled = models.BooleanField(default=True)
    is_sandbox = models.BooleanField(
        "sandbox",
        default=False,
        help_text="Points at a test service such as Exec's Okta sandbox, not a "
        "production tenant.",
    )

    okta_auth_type = models.CharField(
        "Okta auth type",
        max_length=8,
        choices=OktaAuthType.choices,
        default=OktaAuthType.SSWS,
    )
    client_id = models.CharField(
        "OAuth client id",
        max_length=128,
        blank=True,
        help_text="Okta service app client id; only for OAuth.",
    )
    key_id = models.CharField(
        "key id",
        max_length=128,
        blank=True,
        help_text="The kid of the service app's public key; optional.",
    )
    scopes = models.CharField(
        max_length=512,
        blank=True,
        default=OKTA_DEFAULT_SCOPES,
        help_text="Space-separated OAuth scopes to request; only for OAuth.",
    )
    login_suffixes = models.CharField(
        max_length=512,
        blank=True,
        help_text="Comma-separated UPN suffixes tried as Okta logins when "
        "matching an endpoint user, e.g. corp.example.com, example.com.",
    )
    sam_attribute = models.CharField(
        "sAMAccountName attribute",
        max_length=64,
        blank=True,
        default="samAccountName",
        help_text="Okta profile attribute that holds the AD sAMAccountName; "
        "blank if the tenant does not map it.",
    )

    encrypted_secret = models.TextField(blank=True, editable=False)
    secret_changed = models.DateTimeField(null=True, blank=True, editable=False)

    last_checked = models.DateTimeField(null=True, blank=True, editable=False)
    last_check_ok = models.BooleanField(null=True, editable=False)
    last_check_message = models.TextField(blank=True, editable=False)

    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (sandbox)" if self.is_sandbox else self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.encrypted_secret)

    def get_secret(self) -> str:
        """Decrypt and return the secret; empty when none is stored."""
        if not self.encrypted_secret:
            return ""
        return decrypt_secret(self.encrypted_secret)

    def set_secret(self, plaintext: str) -> None:
        self.encrypted_secret = encrypt_secret(plaintext) if plaintext else ""
        self.secret_changed = timezone.now()

    def login_suffix_list(self) -> list[str]:
        return [
            part.strip().lstrip("@").lower()
            for part in self.login_suffixes.split(",")
            if part.strip()
        ]

    def clean(self) -> None:
        errors = {}
        missing_url = URL_REQUIRED.get(self.kind)
        if missing_url and not self.base_url:
            errors["base_url"] = missing_url
        is_oauth = self.okta_auth_type == OktaAuthType.OAUTH
        if self.kind == ConnectorKind.OKTA and is_oauth and not self.client_id:
            errors["client_id"] = "OAuth needs the service app's client id."
        if errors:
            raise ValidationError(errors)


def audited_fields(model: type[models.Model], *, exclude: tuple[str, ...] = ()) -> list:
    """Return the names of a model's own columns for auditlog's include_fields.

    Without such a list, auditlog lists reverse relations (a connector's
    accounts and links) as changed fields of every new or deleted row.
    """
    return [
        field.name for field in model._meta.concrete_fields if field.name not in exclude
    ]


# The encrypted secret never goes into the audit trail, but `secret_changed`
# shows that it was replaced.
auditlog.register(
    Connector,
    include_fields=audited_fields(Connector, exclude=("encrypted_secret",)),
    exclude_fields=["encrypted_secret"],
)
