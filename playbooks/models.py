"""Detections, playbooks with their steps, and the runs of playbooks."""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from endpoints.models import AgentTask, Endpoint, EndpointUser, StatusChange
from playbooks.choices import (
    ConditionMode,
    DetectionSource,
    MatchStatus,
    OnFailure,
    PlaybookTarget,
    RunStatus,
    RunTrigger,
    Severity,
    StepPhase,
    StepStatus,
    TriggerType,
    WaitingFor,
    WatchStatus,
)


class Detection(models.Model):
    """An alert from a detection source, stored once per (source, external id).

    The raw document is kept as received. `endpoint` and `endpoint_user` are
    set when exactly one match was found; otherwise the match status and its
    reason record why not.
    """

    source = models.CharField(max_length=16, choices=DetectionSource.choices)
    external_id = models.CharField(max_length=255)
    title = models.CharField(max_length=500)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    original_severity = models.CharField(max_length=64, blank=True)
    occurred = models.DateTimeField()
    received = models.DateTimeField(default=timezone.now, db_index=True)
    hostname = models.CharField(max_length=255, blank=True)
    vendor_endpoint_id = models.CharField(max_length=255, blank=True)
    username = models.CharField(max_length=255, blank=True)
    command_line = models.TextField(blank=True)
    file_path = models.TextField(blank=True)
    file_sha256 = models.CharField("file SHA-256", max_length=64, blank=True)
    mitre_tactic = models.CharField("MITRE tactic", max_length=128, blank=True)
    mitre_technique = models.CharField("MITRE technique", max_length=128, blank=True)
    raw = models.JSONField()

    endpoint = models.ForeignKey(
        Endpoint,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="detections",
    )
    endpoint_match = models.CharField(max_length=16, choices=MatchStatus.choices)
    endpoint_match_reason = models.CharField(max_length=500, blank=True)
    endpoint_user = models.ForeignKey(
        EndpointUser,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="detections",
    )
    user_match = models.CharField(max_length=16, choices=MatchStatus.choices)
    user_match_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="detection_unique_external_id"
            ),
        ]
        ordering = ["-received", "-id"]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id} {self.title}"


# A change to any of these makes a new version of the playbook.
VERSIONED_FIELDS = (
    "name",
    "description",
    "enabled",
    "trigger_type",
    "trigger_config",
    "conditions",
    "condition_mode",
    "target_kind",
    "cooldown_minutes",
    "max_concurrent_runs",
)


class Playbook(models.Model):
    """A sequence of steps that runs on a trigger, when its conditions match.

    `version` grows by one with every saved change of the playbook or of one
    of its steps, and every run records the version it ran.
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    trigger_type = models.CharField(
        max_length=16, choices=TriggerType.choices, default=TriggerType.MANUAL
    )
    trigger_config = models.JSONField(
        default=dict,
        blank=True,
        help_text='endpoint_status: {"from": [...], "to": [...], "for_minutes": N}; '
        'schedule: {"interval_minutes": N} or {"cron": "30 2 * * *", '
        '"timezone": "Europe/Berlin"}.',
    )
    conditions = models.JSONField(
        default=list,
        blank=True,
        help_text='A list of {"field": "detection.severity", "operator": "gte", '
        '"value": "high"}.',
    )
    condition_mode = models.CharField(
        max_length=8, choices=ConditionMode.choices, default=ConditionMode.ALL
    )
    target_kind = models.CharField(
        max_length=16, choices=PlaybookTarget.choices, default=PlaybookTarget.ENDPOINT
    )
    cooldown_minutes = models.PositiveIntegerField(
        default=0, help_text="Minutes after a run before the same target runs again."
    )
    max_concurrent_runs = models.PositiveIntegerField(
        default=1, help_text="Unfinished runs allowed per target; 0 for no limit."
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    next_run = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Next due time of a schedule."
    )
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # The scheduler seeks due schedules by next_run.
            models.Index(
                fields=["next_run"],
                name="playbook_schedule_due_idx",
                condition=Q(enabled=True, trigger_type="schedule"),
            ),
        ]
        permissions = [
            ("run_playbook", "Can run the playbook"),
            ("approve_playbook", "Can approve the playbook's steps"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, raising the version when a setting changed and moving next_run."""
        stored = (
            Playbook.objects.filter(pk=self.pk).values(*VERSIONED_FIELDS).first()
            if self.pk
            else None
        )
        changed = stored is not None and any(
            stored[name] != getattr(self, name) for name in VERSIONED_FIELDS
        )
        if changed:
            self.version = (
                Playbook.objects.values_list("version", flat=True).get(pk=self.pk) + 1
            )
        if (
            stored is None
            or changed
            or (self.next_run is None and self.trigger_type == TriggerType.SCHEDULE)
        ):
            # Imported here because triggers imports the engine, which
            # imports these models.
            from playbooks.triggers import set_next_run

            set_next_run(self, timezone.now())
        super().save(*args, **kwargs)

    def bump_version(self) -> None:
        """Raise the version by one in the database and on this instance."""
        Playbook.objects.filter(pk=self.pk).update(version=F("version") + 1)
        self.refresh_from_db(fields=["version"])


class Step(models.Model):
    """One action of a playbook, run in `order`."""

    playbook = models.ForeignKey(
        Playbook, on_delete=models.CASCADE, related_name="steps"
    )
    order = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=100)
    parameters = models.JSONField(default=dict, blank=True)
    requires_approval = models.BooleanField(default=False)
    approval_timeout_minutes = models.PositiveIntegerField(default=24 * 60)
    timeout_seconds = models.PositiveIntegerField(
        default=300, help_text="A step still running after this is treated as lost."
    )
    max_attempts = models.PositiveIntegerField(default=3)
    backoff_seconds = models.PositiveIntegerField(
        default=30, help_text="Delay before the first retry; it doubles each time."
    )
    on_failure = models.CharField(
        max_length=16, choices=OnFailure.choices, default=OnFailure.STOP
    )

    class Meta:
        ordering = ["playbook", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["playbook", "order"], name="step_unique_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.name or self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        self.playbook.bump_version()

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        result = super().delete(*args, **kwargs)
        self.playbook.bump_version()
        return result


class PlaybookRun(models.Model):
    """One execution of a playbook against one target, with its own log.

    `dedup_key` is unique: two starts for the same event and target (the same
    detection, status change or due time) collide on it, so only one run is
    created whatever the timing. `target_key` names the target for the
    cooldown and concurrency checks.
    """

    playbook = models.ForeignKey(
        Playbook, on_delete=models.PROTECT, related_name="runs"
    )
    playbook_version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    detection = models.ForeignKey(
        Detection, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    status_change = models.ForeignKey(
        StatusChange,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    endpoint = models.ForeignKey(
        Endpoint,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="playbook_runs",
    )
    endpoint_user = models.ForeignKey(
        EndpointUser,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="playbook_runs",
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="playbook_runs",
    )
    dedup_key = models.CharField(max_length=255, unique=True, null=True, blank=True)
    target_key = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(
                fields=["playbook", "target_key", "-created"], name="run_target_idx"
            ),
        ]
        permissions = [("cancel_playbookrun", "Can cancel playbook runs")]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.playbook_id} v{self.playbook_version}"


class StepRun(models.Model):
    """One step of one run: its status, attempts, timings, result and log.

    The step's settings are copied when the run starts, so a run finishes the
    version it started with even if the playbook is edited meanwhile.
    `deadline` is when a running attempt counts as lost; `not_before` is when
    a pending retry or a waiting timer is due.
    """

    run = models.ForeignKey(
        PlaybookRun, on_delete=models.CASCADE, related_name="step_runs"
    )
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.SET_NULL)
    order = models.PositiveIntegerField()
    name = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=100)
    parameters = models.JSONField(default=dict, blank=True)
    requires_approval = models.BooleanField(default=False)
    approval_timeout_minutes = models.PositiveIntegerField(default=24 * 60)
    timeout_seconds = models.PositiveIntegerField(default=300)
    max_attempts = models.PositiveIntegerField(default=3)
    backoff_seconds = models.PositiveIntegerField(default=30)
    on_failure = models.CharField(
        max_length=16, choices=OnFailure.choices, default=OnFailure.STOP
    )

    status = models.CharField(
        max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING
    )
    phase = models.CharField(
        max_length=16, choices=StepPhase.choices, default=StepPhase.EXECUTE
    )
    waiting_for = models.CharField(
        max_length=16, choices=WaitingFor.choices, default="", blank=True
    )
    attempts = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    agent_task = models.ForeignKey(
        AgentTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved = models.BooleanField(null=True, blank=True)
    approval_id = models.BigIntegerField(null=True, blank=True)
    log = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "order"], name="step_run_unique_order"
            ),
        ]
        indexes = [
            # The watchdog seeks running steps past their deadline.
            models.Index(
                fields=["deadline"],
                name="step_run_running_idx",
                condition=Q(status="running"),
            ),
            # The due sweep seeks pending steps and timers by not_before.
            models.Index(
                fields=["not_before"],
                name="step_run_due_idx",
                condition=Q(status__in=["pending", "waiting"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Step {self.order} of run {self.run_id} ({self.status})"


class StatusWatch(models.Model):
    """A check, due `for_minutes` after a status change, that it still holds.

    The check starts the playbook only when the endpoint is still in the new
    status and has not changed since, so an endpoint that flaps starts one run
    for the change that lasted, not one per flap.
    """

    playbook = models.ForeignKey(
        Playbook, on_delete=models.CASCADE, related_name="status_watches"
    )
    status_change = models.ForeignKey(
        StatusChange, on_delete=models.CASCADE, related_name="+"
    )
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="+")
    due = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=WatchStatus.choices, default=WatchStatus.PENDING
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["playbook", "status_change"], name="status_watch_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["due"],
                name="status_watch_due_idx",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"Watch {self.playbook_id} on change {self.status_change_id}"
