"""An agent's check-in: sign of life, facts, users, status events and due tasks.

A check-in that changes nothing but `last_seen` takes a fast path of at most
three queries. They are the token lookup, which also returns whether tasks
are due, a conditional UPDATE of the endpoint and, once per USERS_REFRESH
window, an UPDATE of the reported users' last_seen. Anything else takes the
row lock and the slow path.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from endpoints.choices import (
    FINAL,
    AgentEvent,
    EndpointStatus,
    StatusReason,
    TaskStatus,
)
from endpoints.models import AgentTask, Endpoint
from endpoints.status import change_status
from endpoints.users import (
    ReportedUser,
    merge_reported,
    sync_users,
    touch_users,
    users_digest,
)

logger = logging.getLogger(__name__)

EVENT_STATUS: dict[str, str] = {
    AgentEvent.SHUTDOWN: EndpointStatus.SHUTDOWN,
    AgentEvent.SUSPENDED: EndpointStatus.SUSPENDED,
    AgentEvent.UNINSTALLED: EndpointStatus.UNINSTALLED,
}

# Each UPDATE commits on its own and waits for the database to flush its log.
# To save that wait, users reported unchanged get their last_seen refreshed
# once per window, not on every check-in, so it lags by at most this much.
USERS_REFRESH = timedelta(minutes=5)

# The steady-state UPDATE. It is written out because building it with the ORM
# cost about 0.65 million instructions per check-in (callgrind), a sixth of
# the request's Python CPU at the time. It is conditional on the status read
# with the token: if the sweep moved the endpoint meanwhile, nothing is
# written and the slow path turns it back online with a StatusChange.
TOUCH_ENDPOINT_SQL = """
UPDATE endpoints_endpoint SET last_seen = %s
WHERE id = %s AND status = %s AND agent_token_hash = %s
"""

# Tasks handed out per check-in; the rest wait for the next one, so that one
# response stays small however many tasks pile up.
MAX_TASKS_PER_CHECKIN = 20


class CheckinRejected(Exception):
    """The endpoint's token was revoked, or it left service, during the check-in."""


@dataclass(frozen=True)
class CheckinReport:
    """A validated check-in body. `users` is None when the agent sent no list."""

    facts: dict[str, Any] = field(default_factory=dict)
    users: list[ReportedUser] | None = None
    event: str | None = None


def _changed_facts(endpoint: Endpoint, facts: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in facts.items()
        if value is not None and getattr(endpoint, name) != value
    }


def _users_refresh_due(last_seen: datetime | None, now: datetime) -> bool:
    """Return whether `now` falls in a later USERS_REFRESH window than `last_seen`."""
    if last_seen is None:
        return True
    window = USERS_REFRESH.total_seconds()
    return last_seen.timestamp() // window != now.timestamp() // window


def record_checkin(
    endpoint: Endpoint, report: CheckinReport, *, now: datetime
) -> list[AgentTask]:
    """Apply a check-in and return the tasks handed out with it, now marked sent.

    `endpoint` comes from `endpoint_for_token`, whose `has_due_tasks`
    annotation lets a check-in with nothing due skip the task query. Tasks are
    handed out only on plain check-ins, not with an event such as shutdown.
    """
    target = EVENT_STATUS.get(report.event or "", EndpointStatus.ONLINE)
    changed = _changed_facts(endpoint, report.facts)
    reported = merge_reported(report.users) if report.users is not None else None
    digest = users_digest(reported) if reported is not None else endpoint.users_digest
    wants_tasks = report.event is None and getattr(endpoint, "has_due_tasks", True)

    steady = (
        target == endpoint.status
        and digest == endpoint.users_digest
        and not wants_tasks
    )
    if steady and _touch_endpoint(endpoint, changed, now):
        if reported and _users_refresh_due(endpoint.last_seen, now):
            touch_users(endpoint.pk, list(reported), now)
        return []

    return _checkin_locked(endpoint, report, reported, digest, target, now)


def _touch_endpoint(endpoint: Endpoint, changed: dict[str, Any], now: datetime) -> bool:
    """Set last_seen and changed facts unless the status or token moved on."""
    if changed:
        return bool(
            Endpoint.objects.filter(
                pk=endpoint.pk,
                status=endpoint.status,
                agent_token_hash=endpoint.agent_token_hash,
            ).update(last_seen=now, **changed)
        )
    with connection.cursor() as cursor:
        cursor.execute(
            TOUCH_ENDPOINT_SQL,
            [
                connection.ops.adapt_datetimefield_value(now),
                endpoint.pk,
                endpoint.status,
                endpoint.agent_token_hash,
            ],
        )
        return cursor.rowcount == 1


def _checkin_locked(
    authenticated: Endpoint,
    report: CheckinReport,
    reported: dict[str, bool] | None,
    digest: str,
    target: str,
    now: datetime,
) -> list[AgentTask]:
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=authenticated.pk)
        if (
            endpoint.status in FINAL
            or endpoint.agent_token_hash != authenticated.agent_token_hash
        ):
            raise CheckinRejected(
                f"endpoint {endpoint.pk}: agent token replaced or endpoint retired"
            )

        changed = _changed_facts(endpoint, report.facts)
        for name, value in changed.items():
            setattr(endpoint, name, value)
        endpoint.last_seen = now
        fields = ["last_seen", *changed]

        if reported is not None and digest != endpoint.users_digest:
            sync_users(endpoint, reported, now)
            endpoint.users_digest = digest
            fields.append("users_digest")
        elif reported:
            touch_users(endpoint.pk, list(reported), now)

        if target == EndpointStatus.UNINSTALLED:
            # The uninstalled agent's token stops working at once.
            endpoint.agent_token_hash = None
            fields.append("agent_token_hash")

        change = change_status(
            endpoint,
            target,
            reason=(
                StatusReason.CHECKIN
                if report.event is None
                else StatusReason.AGENT_EVENT
            ),
            at=now,
            actor=f"agent:{endpoint.pk}",
            details={"event": report.event} if report.event else None,
            update_fields=tuple(fields),
        )
        if change is None:
            endpoint.save(update_fields=fields)

        if report.event is not None:
            return []
        return deliver_tasks(endpoint, now)


def deliver_tasks(endpoint: Endpoint, now: datetime) -> list[AgentTask]:
    """Mark the endpoint's due tasks sent and return them, oldest first.

    A task whose `expires` has passed is never handed out. Rows that another
    check-in of the same endpoint is handing out are skipped, not sent twice.
    """
    tasks = list(
        AgentTask.objects.select_for_update(skip_locked=True)
        .filter(endpoint=endpoint, status=TaskStatus.QUEUED, expires__gt=now)
        .order_by("created", "id")[:MAX_TASKS_PER_CHECKIN]
    )
    if not tasks:
        return []

    AgentTask.objects.filter(pk__in=[task.pk for task in tasks]).update(
        status=TaskStatus.SENT, sent=now
    )
    for task in tasks:
        task.status = TaskStatus.SENT
        task.sent = now
    logger.info(
        "agent tasks sent endpoint_id=%s task_ids=%s",
        endpoint.pk,
        ",".join(str(task.pk) for task in tasks),
    )
    return tasks
