"""The append-only audit timeline, report jobs and report share links."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, NoReturn

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from audit.choices import ReportStatus

GENESIS_HASH = "0" * 64


class ImmutableEventError(Exception):
    """Raised on any attempt to change or remove an audit event."""


def _reject(action: str) -> NoReturn:
    raise ImmutableEventError(
        f"audit events are append-only: {action} is not allowed; record a new "
        "event with exec_site.events.record_event instead."
    )


class AuditEventQuerySet(models.QuerySet):
    """A queryset that cannot change or remove rows.

    Appending goes through `audit.chain`, which holds the chain lock and sets
    each row's sequence and hashes before `_insert_chained` writes them.
    """

    def update(self, **kwargs: Any) -> NoReturn:
        _reject("update()")

    def delete(self) -> NoReturn:
        _reject("delete()")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _reject("bulk_update()")

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _reject("bulk_create() outside audit.chain.append_many()")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _reject("update_or_create()")

    def _insert_chained(self, events: list[Any], batch_size: int) -> list[Any]:
        return super().bulk_create(events, batch_size=batch_size)


AuditEventManager = models.Manager.from_queryset(AuditEventQuerySet)


def canonical_time(value: datetime) -> str:
    """Return a UTC ISO 8601 time with microseconds, as hashed in the chain."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class AuditEvent(models.Model):
    """One entry of the tamper-evident timeline.

    Each row stores the SHA-256 of its canonical content, which includes the
    previous row's hash, so changing or removing a row breaks every later
    link. The actor is kept twice: as a foreign key for links and as a
    snapshot (`actor_label`, `actor_email`) that is hashed and survives the
    user's deletion. The ids of endpoints, playbooks and runs are plain
    integers, so deleting those never cascades here.
    """

    sequence = models.PositiveBigIntegerField(unique=True, editable=False)
    kind = models.CharField(max_length=64)
    summary = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(
        max_length=191, help_text='A username, "agent:42", "automation" or "system".'
    )
    actor_email = models.CharField(max_length=254, blank=True)
    # PROTECT keeps every subject type resolvable for as long as the history
    # that names it exists.
    content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.CharField(max_length=255, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    endpoint_id = models.BigIntegerField(null=True, blank=True)
    playbook_id = models.BigIntegerField(null=True, blank=True)
    playbook_version = models.PositiveIntegerField(null=True, blank=True)
    run_id = models.BigIntegerField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(
        help_text="UTC; never earlier than the previous event's time."
    )
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventManager()

    class Meta:
        ordering = ["-sequence"]
        # Each filter of the timeline seeks one of these and reads the
        # newest rows first, so a page costs the same at any table size.
        indexes = [
            models.Index(fields=["kind", "sequence"], name="audit_kind_idx"),
            models.Index(fields=["actor_label", "sequence"], name="audit_actor_idx"),
            models.Index(fields=["endpoint_id", "sequence"], name="audit_endpoint_idx"),
            models.Index(fields=["playbook_id", "sequence"], name="audit_playbook_idx"),
            models.Index(fields=["run_id", "sequence"], name="audit_run_idx"),
            models.Index(fields=["created"], name="audit_created_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.kind}: {self.summary[:80]}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _reject("save() of an existing event")
        if not self.hash:
            raise ImmutableEventError(
                "an audit event is appended by audit.chain.append_event, which "
                "sets its sequence and hashes; it cannot be saved directly."
            )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _reject("delete()")

    def subject_type(self) -> str:
        """Return the subject's "app_label.model", or "" when there is none."""
        if self.content_type_id is None:
            return ""
        content_type = ContentType.objects.get_for_id(self.content_type_id)
        return f"{content_type.app_label}.{content_type.model}"

    def canonical_content(self) -> str:
        """Return the sorted-key JSON that `hash` covers.

        The actor's foreign key is left out because deleting a user sets it
        to NULL; the label and e-mail snapshot stand for the actor instead.
        """
        content = {
            "sequence": self.sequence,
            "kind": self.kind,
            "summary": self.summary,
            "actor": self.actor_label,
            "actor_email": self.actor_email,
            "subject_type": self.subject_type(),
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "endpoint_id": self.endpoint_id,
            "playbook_id": self.playbook_id,
            "playbook_version": self.playbook_version,
            "run_id": self.run_id,
            "details": self.details,
            "created": canonical_time(self.created),
            "previous_hash": self.previous_hash,
        }
        return json.dumps(
            content, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical_content().encode()).hexdigest()


class ReportJob(models.Model):
    """A PDF report of one period, built in the request or by a task."""

    since = models.DateField(help_text="First day of the period, UTC.")
    until = models.DateField(help_text="Last day of the period, UTC, included.")
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent.")
    file = models.FileField(upload_to="audit/reports/", blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"Audit report {self.since} to {self.until} ({self.status})"


class ReportShare(models.Model):
    """A signed link that opens one report without logging in, until it
    expires or is revoked. Every use is recorded as an event."""

    report = models.ForeignKey(
        ReportJob, on_delete=models.CASCADE, related_name="shares"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    revoked = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    uses = models.PositiveIntegerField(default=0)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"Share {self.pk} of report {self.report_id}"

    def is_active(self, now: datetime) -> bool:
        return self.revoked is None and now < self.expires
