"""Approval requests for risky steps, the decisions on them and their notices."""

from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from approvals.choices import ApprovalStatus, NotificationKind, NotificationStatus
from endpoints.models import Endpoint, EndpointUser
from playbooks.models import Detection, Playbook, PlaybookRun, StepRun


class ApprovalPolicy(models.Model):
    """How many distinct people must approve each approval request of a playbook.

    Playbooks without a policy need one approval.
    """

    playbook = models.OneToOneField(
        Playbook, on_delete=models.CASCADE, related_name="approval_policy"
    )
    required_approvals = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Distinct, active people who must approve before the step runs.",
    )

    class Meta:
        verbose_name_plural = "approval policies"

    def __str__(self) -> str:
        return f"{self.playbook}: {self.required_approvals} approvals"


class ApprovalRequest(models.Model):
    """A person's decision asked for one step run, with everything it concerns.

    The action, its rendered parameters and its target are stored as they
    will execute, and `binding_hash` covers all three: the approval
    authorizes that step run alone, and the step fails instead of executing
    if its parameters render differently by then. `context` is a snapshot of
    the detection, the endpoint and the run when the request was made.
    """

    step_run = models.OneToOneField(
        StepRun, on_delete=models.PROTECT, related_name="approval_request"
    )
    run = models.ForeignKey(
        PlaybookRun, on_delete=models.PROTECT, related_name="approval_requests"
    )
    playbook = models.ForeignKey(
        Playbook, on_delete=models.PROTECT, related_name="approval_requests"
    )
    playbook_version = models.PositiveIntegerField()
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    endpoint_user = models.ForeignKey(
        EndpointUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detection = models.ForeignKey(
        Detection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    action = models.CharField(max_length=100)
    action_label = models.CharField(max_length=200)
    parameters = models.JSONField(default=dict, blank=True)
    target = models.JSONField(default=dict, blank=True)
    target_label = models.CharField(max_length=500, blank=True)
    summary = models.TextField(help_text="What will happen, in one sentence.")
    binding_hash = models.CharField(
        "binding hash",
        max_length=64,
        help_text="SHA-256 of the action, its parameters and its target.",
    )
    context = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=list, blank=True)
    options_error = models.TextField(blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)

    status = models.CharField(
        max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    requested = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded = models.DateTimeField(null=True, blank=True)
    closed = models.DateTimeField(
        null=True, blank=True, help_text="When the request stopped being pending."
    )
    closed_reason = models.TextField(blank=True)
    chosen_option = models.JSONField(null=True, blank=True)
    executed = models.DateTimeField(
        null=True, blank=True, help_text="When the approved action first executed."
    )

    class Meta:
        ordering = ["-requested", "-id"]
        indexes = [
            # The sweep seeks pending requests by their expiry.
            models.Index(
                fields=["expires"],
                name="approval_pending_expires_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["status", "requested"], name="approval_inbox_idx"),
        ]
        permissions = [
            ("decide_approvalrequest", "Can approve or reject any approval request")
        ]

    def __str__(self) -> str:
        return f"Approval {self.pk}: {self.summary}"

    @property
    def is_pending(self) -> bool:
        return self.status == ApprovalStatus.PENDING

    def option(self, option_id: str) -> dict[str, Any] | None:
        """Return the option with this id, or None."""
        return next((o for o in self.options if o.get("id") == option_id), None)


class ApprovalDecision(models.Model):
    """One person's approval or rejection of a request, with their comment.

    A person decides a request once; the unique constraint backs that up.
    """

    request = models.ForeignKey(
        ApprovalRequest, on_delete=models.CASCADE, related_name="decisions"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved = models.BooleanField()
    option_id = models.CharField(max_length=200, blank=True)
    option = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True)
    decided = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "actor"], name="approval_decision_once_per_actor"
            ),
        ]

    def __str__(self) -> str:
        verb = "approved" if self.approved else "rejected"
        return f"{self.actor_id} {verb} approval {self.request_id}"


class ApprovalNotification(models.Model):
    """One message about a request on one channel, and how its delivery went.

    `detail` contains the recipients when it was sent and the error when it
    failed, so a failed notice shows on the request page.
    """

    request = models.ForeignKey(
        ApprovalRequest, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    channel = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16,
        choices=NotificationStatus.choices,
        default=NotificationStatus.PENDING,
    )
    detail = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "kind", "channel"], name="approval_notice_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of approval {self.request_id} by {self.channel}"
