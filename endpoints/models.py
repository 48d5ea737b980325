"""Endpoints, the users seen on them, their status history and agent tasks."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from endpoints.choices import (
    EndpointStatus,
    Platform,
    Source,
    StatusReason,
    TaskStatus,
)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored.

    Tokens are 32 random bytes, so a fast hash is enough: there is nothing to
    guess that a slow hash would protect.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """Return a fresh random token; the prefix distinguishes token kinds in logs."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


class Tag(models.Model):
    """A label on endpoints, such as `investigate` or `server`."""

    name = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Endpoint(models.Model):
    """A computer in Exec's inventory, reported by its agent or by an EDR connector.

    `status` is the stored state; `last_seen` is the latest sign of life from
    any source, and the silence sweep compares it with the thresholds.
    """

    hostname = models.CharField(max_length=255, db_index=True)
    fqdn = models.CharField("FQDN", max_length=255, blank=True)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    os_name = models.CharField("OS name", max_length=128, blank=True)
    os_version = models.CharField("OS version", max_length=128, blank=True)
    agent_version = models.CharField(max_length=32, blank=True)
    machine_id = models.CharField(max_length=128, blank=True, db_index=True)
    ip_addresses = models.JSONField("IP addresses", default=list, blank=True)
    mac_addresses = models.JSONField("MAC addresses", default=list, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="endpoints")

    source = models.CharField(max_length=16, choices=Source.choices, default="agent")
    source_id = models.CharField(
        max_length=128, help_text="The source's own id of this endpoint."
    )

    status = models.CharField(
        max_length=16, choices=EndpointStatus.choices, default="online"
    )
    status_changed = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(null=True, blank=True)
    enrolled = models.DateTimeField(default=timezone.now)
    decommissioned = models.DateTimeField(null=True, blank=True)
    contained = models.BooleanField(
        default=False, help_text="Network containment is in force."
    )
    legal_hold = models.BooleanField(
        default=False, help_text="Keep this endpoint and its data; never decommission."
    )

    # SHA-256 of the user list in the last check-in, so that a check-in that
    # reports the same users skips reading and writing EndpointUser rows.
    users_digest = models.CharField(max_length=64, blank=True, editable=False)

    agent_token_hash = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    agent_token_rotated = models.DateTimeField(null=True, blank=True, editable=False)

    # Set on endpoints returned by endpoints.authentication.endpoint_for_token.
    has_due_tasks: bool

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_id"], name="endpoint_unique_source_id"
            ),
        ]
        indexes = [
            # The silence sweep seeks live endpoints by last_seen.
            models.Index(
                fields=["last_seen"],
                name="endpoint_sweep_idx",
                condition=Q(status__in=["online", "suspended", "shutdown", "offline"]),
            ),
        ]
        permissions = [
            ("decommission_endpoint", "Can decommission endpoints"),
            ("manage_agent_token", "Can revoke and rotate agent tokens"),
        ]

    def __str__(self) -> str:
        return self.hostname


class EndpointUser(models.Model):
    """A login seen on an endpoint, kept exactly as the source reported it."""

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="users"
    )
    username = models.CharField(
        max_length=255,
        help_text="As reported: CORP\\jdoe, jdoe or jdoe@corp.example.com.",
    )
    domain = models.CharField(max_length=255, blank=True)
    name = models.CharField(
        max_length=255, blank=True, help_text="The account name without the domain."
    )
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    logged_in = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "username"], name="endpoint_user_unique"
            ),
        ]
        indexes = [models.Index(fields=["name"], name="endpoint_user_name_idx")]

    def __str__(self) -> str:
        return f"{self.username} on {self.endpoint_id}"


class StatusChange(models.Model):
    """One transition of an endpoint's status. Rows are never changed."""

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="status_changes"
    )
    old_status = models.CharField(max_length=16, choices=EndpointStatus.choices)
    new_status = models.CharField(max_length=16, choices=EndpointStatus.choices)
    reason = models.CharField(max_length=16, choices=StatusReason.choices)
    at = models.DateTimeField(
        help_text="When the change happened, which for the sweep is when the "
        "silence passed the threshold, not when the sweep noticed it."
    )
    recorded = models.DateTimeField(default=timezone.now)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "-at"], name="status_change_idx")]
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.endpoint_id}: {self.old_status} -> {self.new_status}"


class EnrollmentToken(models.Model):
    """A secret that lets agents enroll; only its hash is stored."""

    label = models.CharField(max_length=128, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires = models.DateTimeField()
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty for no limit."
    )
    uses = models.PositiveIntegerField(default=0, editable=False)
    revoked = models.BooleanField(default=False)
    tags = models.ManyToManyField(
        Tag, blank=True, help_text="Applied to every endpoint enrolled with it."
    )
    created = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        editable=False,
    )

    def __str__(self) -> str:
        return self.label or f"Enrollment token {self.pk}"


class AgentTask(models.Model):
    """Work for an endpoint's agent, delivered with a check-in.

    A task that is still queued at `expires` is never delivered. A delivered
    task whose result has not arrived EXEC_AGENT_TASK_TIMEOUT seconds after
    `sent` is failed by the sweep.
    """

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="tasks"
    )
    type = models.CharField(max_length=64)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=TaskStatus.choices, default=TaskStatus.QUEUED
    )
    created = models.DateTimeField(default=timezone.now)
    sent = models.DateTimeField(null=True, blank=True)
    completed = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField()
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # Check-ins look up the queued tasks of one endpoint.
            models.Index(
                fields=["endpoint", "created"],
                name="agent_task_queued_idx",
                condition=Q(status="queued"),
            ),
            # The sweep seeks delivered tasks whose result is overdue.
            models.Index(
                fields=["sent"],
                name="agent_task_delivered_idx",
                condition=Q(status__in=["sent", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} on {self.endpoint_id} ({self.status})"
