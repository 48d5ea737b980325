"""Choices of the identities app: the statuses an Okta user can have."""

from django.db import models


class OktaUserStatus(models.TextChoices):
    """The lifecycle statuses of the Okta Users API."""

    STAGED = "STAGED", "staged"
    PROVISIONED = "PROVISIONED", "provisioned"
    ACTIVE = "ACTIVE", "active"
    RECOVERY = "RECOVERY", "recovery"
    PASSWORD_EXPIRED = "PASSWORD_EXPIRED", "password expired"
    LOCKED_OUT = "LOCKED_OUT", "locked out"
    SUSPENDED = "SUSPENDED", "suspended"
    DEPROVISIONED = "DEPROVISIONED", "deprovisioned"
