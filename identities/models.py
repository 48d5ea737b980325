"""Accounts at identity providers and confirmed links from endpoint users."""

import unicodedata

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from connectors.choices import ConnectorKind
from connectors.models import Connector, audited_fields
from identities.choices import OktaUserStatus


def username_key(username: str) -> str:
    """Normalize an endpoint user name for lookups: NFKC, trimmed, case-folded.

    `CORP\\JDoe` and `corp\\jdoe` share a key; `CORP\\jdoe` and `jdoe` do not,
    because a bare name may belong to another domain's user.
    """
    return unicodedata.normalize("NFKC", username).strip().casefold()


class ProviderAccount(models.Model):
    """An account at an identity provider, such as an Okta user, as last read."""

    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="accounts"
    )
    provider_user_id = models.CharField(
        "provider user id", max_length=64, help_text="Okta's user id, e.g. 00u…"
    )
    login = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=32,
        blank=True,
        choices=OktaUserStatus.choices,
        help_text="The provider's status when last read.",
    )
    last_read = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "provider_user_id"],
                name="provider_account_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.login} ({self.connector.name})"

    def clean(self) -> None:
        okta_error = okta_connector_error(self)
        if okta_error:
            raise ValidationError({"connector": okta_error})


class IdentityLink(models.Model):
    """A person's confirmation that an endpoint user is a provider account.

    Matching offers a confirmed link first, but an approver still reviews and
    chooses it for every action.
    """

    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="identity_links"
    )
    username = models.CharField(
        max_length=255, help_text="The endpoint user as reported, e.g. CORP\\jdoe."
    )
    username_key = models.CharField(max_length=255, editable=False)
    account_name_key = models.CharField(
        max_length=255,
        editable=False,
        help_text="The account name without domain, normalized, for lookups "
        "by a bare name.",
    )
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, related_name="links"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    confirmed_at = models.DateTimeField(default=timezone.now)
    approval_id = models.BigIntegerField(
        null=True, blank=True, help_text="The approval request that confirmed it."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "username_key"], name="identity_link_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["connector", "account_name_key"], name="identity_link_name_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.username} → {self.account.login}"

    def clean(self) -> None:
        errors = {}
        okta_error = okta_connector_error(self)
        if okta_error:
            errors["connector"] = okta_error
        elif (
            self.connector_id
            and self.account_id
            and self.account.connector_id != self.connector_id
        ):
            errors["account"] = (
                f"{self.account.login} is an account of connector "
                f"{self.account.connector.name}, not of {self.connector.name}; "
                f"choose an account of {self.connector.name}."
            )
        existing = self.existing_link()
        if existing is not None:
            errors["username"] = (
                f"{self.username} is already linked: link {existing.pk} links "
                f"{existing.username} to {existing.account.login} on connector "
                f"{self.connector.name}. Change that link instead, or enter "
                "another user name."
            )
        if errors:
            raise ValidationError(errors)

    def existing_link(self) -> "IdentityLink | None":
        """Return the link of this connector that this user name already finds.

        That is a link for the same user string in any letter case, or, for a
        bare name such as `joren`, a link whose account name it is (such as
        `CORP\\joren`), because matching resolves the bare name to that link.
        """
        from identities.matching import parse_endpoint_user

        if not self.connector_id or not self.username.strip():
            return None
        links = (
            IdentityLink.objects.select_related("account")
            .filter(connector_id=self.connector_id)
            .exclude(pk=self.pk)
        )
        exact = links.filter(username_key=username_key(self.username)).first()
        account = parse_endpoint_user(self.username)
        if exact is not None or not account.name or account.domain or account.upn:
            return exact
        return links.filter(account_name_key=username_key(account.name)).first()


def okta_connector_error(instance: ProviderAccount | IdentityLink) -> str:
    """Return why the row's connector cannot hold identities, or ''."""
    if not instance.connector_id:
        return ""
    connector = instance.connector
    if connector.kind != ConnectorKind.OKTA:
        return (
            f"{connector.name} is a {connector.get_kind_display()} connector; "
            "choose an Okta connector."
        )
    return ""


auditlog.register(ProviderAccount, include_fields=audited_fields(ProviderAccount))
auditlog.register(IdentityLink, include_fields=audited_fields(IdentityLink))
