"""Choices of the connectors app: vendor kinds, Okta auth types, outcomes."""

from django.db import models


class ConnectorKind(models.TextChoices):
    OKTA = "okta", "Okta"
    SLACK = "slack", "Slack incoming webhook"
    WEBHOOK = "webhook", "Signed webhook"


class OktaAuthType(models.TextChoices):
    SSWS = "ssws", "API token (SSWS)"
    OAUTH = "oauth", "OAuth 2.0 service app (private key JWT)"


class Outcome(models.TextChoices):
    """The result of an ensure-state operation on a vendor."""

    DONE = "done", "done"
    ALREADY_IN_STATE = "already_in_state", "already in that state"
    PENDING = "pending", "pending"
    REFUSED = "refused", "refused"
    FAILED = "failed", "failed"


# Scopes an Okta service app needs for everything Exec does.
OKTA_DEFAULT_SCOPES = (
    "okta.users.read okta.users.manage okta.groups.read okta.groups.manage"
)
