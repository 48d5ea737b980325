"""Workflows on endpoints: enrollment, agent tokens, task results, decommissioning.

Each function makes its whole change, audit event included, in one
transaction. The admin, the agent API and the commands call these functions
and repeat none of their steps.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from endpoints.choices import (
    FINAL,
    TASK_TERMINAL,
    EndpointStatus,
    Source,
    StatusReason,
    TaskStatus,
)
from endpoints.models import (
    AgentTask,
    Endpoint,
    EnrollmentToken,
    Tag,
    hash_token,
    new_token,
)
from endpoints.signals import agent_task_finished
from endpoints.status import change_status, offline_after
from exec_site.events import record_event

logger = logging.getLogger(__name__)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Enrollment tokens ----------------------------------------------------------


class EnrollmentRejected(Exception):
    """The enrollment token is unknown, revoked, expired or used up."""


@dataclass(frozen=True)
class Enrollment:
    """The outcome of an enrollment: the agent token is returned only here."""

    endpoint: Endpoint
    agent_token: str
    created: bool


def create_enrollment_token(
    *,
    expires: datetime,
    max_uses: int | None = None,
    tags: list[str] | None = None,
    label: str = "",
    actor: Any = None,
) -> tuple[EnrollmentToken, str]:
    """Create an enrollment token; returns the row and the token, shown once."""
    token = new_token("enr")
    with transaction.atomic():
        enrollment_token = EnrollmentToken.objects.create(
            label=label,
            token_hash=hash_token(token),
            expires=expires,
            max_uses=max_uses,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        tag_rows = [Tag.objects.get_or_create(name=name)[0] for name in tags or ()]
        enrollment_token.tags.set(tag_rows)
        record_event(
            "endpoint.enrollment_token_created",
            f"Enrollment token {enrollment_token} created, valid until "
            f"{_iso(expires)}.",
            actor=actor,
            subject=enrollment_token,
            details={
                "enrollment_token_id": enrollment_token.pk,
                "max_uses": max_uses,
                "tags": sorted(tags or ()),
            },
        )
    return enrollment_token, token


def _rejection(enrollment_token: EnrollmentToken | None, now: datetime) -> str:
    """Explain why a token that could not be claimed is not usable."""
    if enrollment_token is None:
        return "Unknown enrollment token; ask an administrator for a new one."
    if enrollment_token.revoked:
        return "Enrollment token was revoked; create a new one."
    if enrollment_token.expires <= now:
        return (
            f"Enrollment token expired at {_iso(enrollment_token.expires)}; "
            "create a new one."
        )
    return (
        f"Enrollment token is used up ({enrollment_token.uses} of "
        f"{enrollment_token.max_uses} uses); create a new one."
    )


def claim_enrollment_token(token: str, now: datetime) -> EnrollmentToken:
    """Count one use of the token, or raise EnrollmentRejected.

    The use is counted by a conditional UPDATE, so two agents racing for the
    last use cannot both get it: the database applies one UPDATE after the
    other and the second no longer matches `uses < max_uses`.
    """
    token_hash = hash_token(token)
    claimed = (
        EnrollmentToken.objects.filter(
            token_hash=token_hash, revoked=False, expires__gt=now
        )
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .update(uses=F("uses") + 1)
    )
    enrollment_token = (
        EnrollmentToken.objects.filter(token_hash=token_hash)
        .prefetch_related("tags")
        .first()
    )
    if not claimed or enrollment_token is None:
        raise EnrollmentRejected(_rejection(enrollment_token, now))
    return enrollment_token


def enroll(token: str, facts: dict[str, Any], *, now: datetime) -> Enrollment:
    """Enroll an agent with an enrollment token and the facts it reported.

    `facts` contains the Endpoint fields from the enrollment request, with
    `machine_id` naming the machine. A machine enrolled before gets its old
    record back: a new agent token replaces the old one, and an endpoint that
    was decommissioned, uninstalled or silent goes online with a StatusChange.
    """
    with transaction.atomic():
        enrollment_token = claim_enrollment_token(token, now)
        agent_token = new_token("agt")
        endpoint = (
            Endpoint.objects.select_for_update()
            .filter(source=Source.AGENT, source_id=facts["machine_id"])
            .first()
        )
        created = endpoint is None
        if endpoint is None:
            try:
                with transaction.atomic():
                    endpoint = _enroll_new(facts, agent_token, now)
            except IntegrityError:
                # The same machine enrolled at the same moment and committed
                # first, so this enrollment takes over its record.
                created = False
                endpoint = Endpoint.objects.select_for_update().get(
                    source=Source.AGENT, source_id=facts["machine_id"]
                )
        if not created:
            _enroll_again(endpoint, facts, agent_token, now)

        endpoint.tags.add(*enrollment_token.tags.all())
        record_event(
            "endpoint.enrolled" if created else "endpoint.reenrolled",
            f"{endpoint.hostname} enrolled with enrollment token {enrollment_token}.",
            actor=f"agent:{endpoint.pk}",
            subject=endpoint,
            endpoint_id=endpoint.pk,
            details={
                "enrollment_token_id": enrollment_token.pk,
                "machine_id": endpoint.machine_id,
            },
        )

    logger.info(
        "agent enrolled endpoint_id=%s enrollment_token_id=%s created=%s",
        endpoint.pk,
        enrollment_token.pk,
        created,
    )
    return Enrollment(endpoint=endpoint, agent_token=agent_token, created=created)


def _enroll_new(facts: dict[str, Any], agent_token: str, now: datetime) -> Endpoint:
    return Endpoint.objects.create(
        **facts,
        source=Source.AGENT,
        source_id=facts["machine_id"],
        status=EndpointStatus.ONLINE,
        status_changed=now,
        last_seen=now,
        enrolled=now,
        agent_token_hash=hash_token(agent_token),
        agent_token_rotated=now,
    )


def _enroll_again(
    endpoint: Endpoint, facts: dict[str, Any], agent_token: str, now: datetime
) -> None:
    for name, value in facts.items():
        setattr(endpoint, name, value)
    endpoint.last_seen = now
    endpoint.enrolled = now
    endpoint.decommissioned = None
    endpoint.agent_token_hash = hash_token(agent_token)
    endpoint.agent_token_rotated = now
    fields = (
        *facts,
        "last_seen",
        "enrolled",
        "decommissioned",
        "agent_token_hash",
        "agent_token_rotated",
    )
    change = change_status(
        endpoint,
        EndpointStatus.ONLINE,
        reason=StatusReason.AGENT_EVENT,
        at=now,
        actor=f"agent:{endpoint.pk}",
        details={"event": "enrolled"},
        update_fields=fields,
    )
    if change is None:
        endpoint.save(update_fields=fields)


# Agent tokens ---------------------------------------------------------------


class TokenRotationRefused(Exception):
    """The endpoint has left service, so a new agent token would never work."""


def rotate_agent_token(endpoint: Endpoint, *, actor: Any, now: datetime) -> str:
    """Give the endpoint a new agent token and return it; the old one stops working.

    The agent keeps its old token, so it must be given the new one (or
    re-enroll) to check in again. Raises TokenRotationRefused for an
    uninstalled or decommissioned endpoint, whose tokens are rejected.
    """
    if endpoint.status in FINAL:
        raise TokenRotationRefused(
            f"Endpoint {endpoint.hostname} is {endpoint.status}, so a new agent "
            "token would be rejected; enroll its agent again instead."
        )
    agent_token = new_token("agt")
    with transaction.atomic():
        endpoint.agent_token_hash = hash_token(agent_token)
        endpoint.agent_token_rotated = now
        endpoint.save(update_fields=["agent_token_hash", "agent_token_rotated"])
        record_event(
            "endpoint.agent_token_rotated",
            f"Agent token of {endpoint.hostname} rotated.",
            actor=actor,
            subject=endpoint,
            endpoint_id=endpoint.pk,
        )
    logger.info("agent token rotated endpoint_id=%s", endpoint.pk)
    return agent_token


def revoke_agent_token(endpoint: Endpoint, *, actor: Any, now: datetime) -> None:
    """Revoke the endpoint's agent token: its check-ins get 401 until it re-enrolls."""
    with transaction.atomic():
        endpoint.agent_token_hash = None
        endpoint.agent_token_rotated = now
        endpoint.save(update_fields=["agent_token_hash", "agent_token_rotated"])
        record_event(
            "endpoint.agent_token_revoked",
            f"Agent token of {endpoint.hostname} revoked.",
            actor=actor,
            subject=endpoint,
            endpoint_id=endpoint.pk,
        )
    logger.info("agent token revoked endpoint_id=%s", endpoint.pk)


def set_legal_hold(endpoint: Endpoint, held: bool, *, actor: Any) -> None:
    """Set or clear the legal hold, which keeps the endpoint from decommissioning."""
    if endpoint.legal_hold == held:
        return
    with transaction.atomic():
        endpoint.legal_hold = held
        endpoint.save(update_fields=["legal_hold"])
        record_event(
            "endpoint.legal_hold_set" if held else "endpoint.legal_hold_cleared",
            f"Legal hold on {endpoint.hostname} {'set' if held else 'cleared'}.",
            actor=actor,
            subject=endpoint,
            endpoint_id=endpoint.pk,
        )


# Agent task results ---------------------------------------------------------


class TaskResultRejected(Exception):
    """A task result that cannot be applied, with the HTTP status to respond with."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def report_task_result(
    endpoint: Endpoint,
    task_id: int,
    *,
    status: str,
    result: dict[str, Any] | None,
    error: str,
    now: datetime,
) -> AgentTask:
    """Apply a result that an endpoint's agent reports for one of its tasks.

    Raises TaskResultRejected with 404 for a task of another endpoint (or none)
    and 409 for a task that is final already or was never handed out. A final
    status sends `agent_task_finished` after commit.
    """
    with transaction.atomic():
        task = (
            AgentTask.objects.select_for_update()
            .filter(pk=task_id, endpoint=endpoint)
            .first()
        )
        if task is None:
            raise TaskResultRejected(f"Task {task_id} not found.", 404)
        if task.status in TASK_TERMINAL:
            raise TaskResultRejected(
                f"Task {task_id} is already {task.status}; results after a final "
                "status are not accepted.",
                409,
            )
        if task.status == TaskStatus.QUEUED:
            raise TaskResultRejected(
                f"Task {task_id} was not handed out yet; check in to receive it.",
                409,
            )

        task.status = status
        task.result = result
        task.error = error
        fields = ["status", "result", "error"]
        if status in TASK_TERMINAL:
            task.completed = now
            fields.append("completed")
        task.save(update_fields=fields)

        if status in TASK_TERMINAL:
            _record_task_finished(task, endpoint)
    return task


def _record_task_finished(task: AgentTask, endpoint: Endpoint) -> None:
    record_event(
        "endpoint.agent_task_finished",
        f"Agent task {task.type} on {endpoint.hostname} {task.status}.",
        actor=f"agent:{endpoint.pk}",
        subject=task,
        endpoint_id=endpoint.pk,
        details={"task_id": task.pk, "type": task.type, "status": task.status},
    )
    transaction.on_commit(
        lambda: agent_task_finished.send(sender=AgentTask, task=task), robust=True
    )


def cancel_agent_task(task: AgentTask, *, actor: Any, now: datetime) -> bool:
    """Cancel a task that no agent has received yet; return whether it was queued.

    A task that was handed out runs on the agent whatever the server records, so
    only queued tasks can be cancelled. The playbook step waiting for the task
    fails with the cancellation as its reason.
    """
    with transaction.atomic():
        cancelled = AgentTask.objects.filter(
            pk=task.pk, status=TaskStatus.QUEUED
        ).update(
            status=TaskStatus.CANCELLED,
            completed=now,
            error=f"cancelled by {actor} before delivery",
        )
        if not cancelled:
            return False
        task.refresh_from_db()
        record_event(
            "endpoint.agent_task_cancelled",
            f"Agent task {task.type} on endpoint {task.endpoint_id} cancelled.",
            actor=actor,
            subject=task,
            endpoint_id=task.endpoint_id,
            details={"task_id": task.pk, "type": task.type},
        )
        transaction.on_commit(
            lambda: agent_task_finished.send(sender=AgentTask, task=task), robust=True
        )
    logger.info(
        "agent task cancelled task_id=%s endpoint_id=%s", task.pk, task.endpoint_id
    )
    return True


# Decommissioning ------------------------------------------------------------


class DecommissionRefused(Exception):
    """The endpoint must stay in service; the message gives the reason and the fix."""


def _newest_sighting(endpoint: Endpoint) -> tuple[datetime | None, Endpoint]:
    """Return the latest last_seen of this machine from any source, and its record.

    Records of other sources count when they share the machine id or the host
    name, so an endpoint that an EDR still reports is not taken for stale.
    """
    same_machine = Q(hostname__iexact=endpoint.hostname)
    if endpoint.machine_id:
        same_machine |= Q(machine_id=endpoint.machine_id)
    records = (
        Endpoint.objects.filter(same_machine | Q(pk=endpoint.pk))
        .exclude(status=EndpointStatus.DECOMMISSIONED)
        .exclude(last_seen=None)
        .order_by("-last_seen")
    )
    newest = records.first()
    if newest is None:
        return None, endpoint
    return newest.last_seen, newest


def check_decommission(
    endpoint: Endpoint, *, now: datetime, stale_after: timedelta
) -> None:
    """Raise DecommissionRefused if the endpoint must stay in service."""
    name = f"Endpoint {endpoint.hostname}"
    if endpoint.status == EndpointStatus.DECOMMISSIONED:
        raise DecommissionRefused(f"{name} is decommissioned already.")
    if endpoint.legal_hold:
        raise DecommissionRefused(
            f"{name} is under legal hold; clear the hold before decommissioning."
        )
    if endpoint.contained:
        raise DecommissionRefused(
            f"{name} is contained; lift the containment before decommissioning."
        )

    queued = endpoint.tasks.filter(status=TaskStatus.QUEUED, expires__gt=now).count()
    if queued:
        raise DecommissionRefused(
            f"{name} has {queued} queued agent tasks; cancel them under Agent "
            "tasks in the admin, or wait until they expire."
        )

    last_seen, seen_by = _newest_sighting(endpoint)
    if last_seen is not None and last_seen > now - stale_after:
        minutes = int((now - last_seen).total_seconds() // 60)
        source = Source(seen_by.source).label
        raise DecommissionRefused(
            f"{name} was seen {minutes} minutes ago by {source} (endpoint "
            f"{seen_by.pk}); decommission only endpoints silent for at least "
            f"{int(stale_after.total_seconds() // 60)} minutes."
        )


def decommission_endpoint(
    endpoint: Endpoint,
    *,
    actor: Any,
    now: datetime,
    reason: str = "",
    stale_after: timedelta | None = None,
) -> None:
    """Take an endpoint out of service for good: revoke its token, mark it so.

    Raises DecommissionRefused for an endpoint that is contained, under legal
    hold, has queued tasks, or that any source has seen within `stale_after`
    (by default the offline threshold). Its history stays; the same machine
    can enroll again, which brings this record back online.
    """
    stale_after = offline_after() if stale_after is None else stale_after
    with transaction.atomic():
        locked = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        check_decommission(locked, now=now, stale_after=stale_after)

        locked.agent_token_hash = None
        locked.agent_token_rotated = now
        locked.decommissioned = now
        change_status(
            locked,
            EndpointStatus.DECOMMISSIONED,
            reason=StatusReason.OPERATOR,
            at=now,
            actor=actor,
            details={"comment": reason} if reason else None,
            update_fields=("agent_token_hash", "agent_token_rotated", "decommissioned"),
        )

    for name in ("status", "status_changed", "decommissioned", "agent_token_hash"):
        setattr(endpoint, name, getattr(locked, name))
