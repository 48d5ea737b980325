"""The silence sweep: set-based SQL that marks silent endpoints offline, then missing.

Each step is one statement on PostgreSQL and two on SQLite, whatever the number
of endpoints, and writes the StatusChange rows with `at` = last_seen +
threshold, which is when the silence passed the threshold. The same module
expires agent tasks that were not delivered in time and fails delivered tasks
whose result is overdue.
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from endpoints.choices import SWEEPABLE, EndpointStatus, StatusReason, TaskStatus
from endpoints.models import AgentTask, StatusChange
from endpoints.signals import agent_task_finished
from endpoints.status import missing_after, offline_after, send_status_changed
from exec_site.events import record_event

logger = logging.getLogger(__name__)

# Table names are written out because the statements are constants; the
# tests run them against the models' tables on both databases.

# On PostgreSQL one statement locks the silent rows, skipping any that a
# check-in holds (that check-in wins), moves them and inserts their history.
# The UPDATE repeats the conditions on status and last_seen so that a row
# changed since it was selected is left alone.
POSTGRES_STEP = """
WITH candidates AS (
    SELECT id, status, last_seen FROM endpoints_endpoint
    WHERE status = ANY(%(old)s) AND last_seen < %(cutoff)s
    ORDER BY id
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE endpoints_endpoint AS e
    SET status = %(new)s, status_changed = c.last_seen + %(threshold)s
    FROM candidates AS c
    WHERE e.id = c.id AND e.status = c.status AND e.last_seen = c.last_seen
    RETURNING e.id, c.status AS old_status, c.last_seen
)
INSERT INTO endpoints_statuschange
    (endpoint_id, old_status, new_status, reason, at, recorded, details)
SELECT id, old_status, %(new)s, %(reason)s, last_seen + %(threshold)s, %(now)s,
    %(details)s::jsonb
FROM moved
RETURNING id, endpoint_id, old_status, at
"""

# SQLite runs the step as two statements. Exec opens SQLite transactions with
# BEGIN IMMEDIATE, which takes the database's write lock, so no check-in can
# change a row between them and both see the same rows.
#
# SQLite stores datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text. strftime()
# adds the whole seconds of the threshold and drops the fraction, which
# substr() puts back, so `at` keeps last_seen's microseconds.
SQLITE_INSERT = """
INSERT INTO endpoints_statuschange
    (endpoint_id, old_status, new_status, reason, at, recorded, details)
SELECT id, status, %(new)s, %(reason)s,
    strftime('%%Y-%%m-%%d %%H:%%M:%%S', last_seen, %(shift)s)
        || substr(last_seen, 20),
    %(now)s, %(details)s
FROM endpoints_endpoint
WHERE status IN (SELECT value FROM json_each(%(old)s)) AND last_seen < %(cutoff)s
RETURNING id, endpoint_id, old_status, at
"""
SQLITE_UPDATE = """
UPDATE endpoints_endpoint
SET status = %(new)s,
    status_changed = strftime('%%Y-%%m-%%d %%H:%%M:%%S', last_seen, %(shift)s)
        || substr(last_seen, 20)
WHERE status IN (SELECT value FROM json_each(%(old)s)) AND last_seen < %(cutoff)s
"""

EXPIRE_TASKS = """
UPDATE endpoints_agenttask SET status = %(expired)s, completed = %(now)s
WHERE status = %(queued)s AND expires <= %(now)s
RETURNING id, endpoint_id, type, parameters, created, sent, expires
"""

TIME_OUT_TASKS = """
UPDATE endpoints_agenttask
SET status = %(failed)s, completed = %(now)s, error = %(error)s
WHERE status IN (%(sent)s, %(running)s) AND sent <= %(cutoff)s
RETURNING id, endpoint_id, type, parameters, created, sent, expires
"""


@dataclass
class SweepResult:
    """The changes of one sweep: StatusChange rows by new status, ended tasks."""

    changes: dict[str, list[StatusChange]] = field(default_factory=dict)
    expired_tasks: list[AgentTask] = field(default_factory=list)
    timed_out_tasks: list[AgentTask] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {status: len(rows) for status, rows in self.changes.items()}


def _datetime(value: Any) -> datetime:
    """Convert a datetime column read by raw SQL to an aware UTC datetime."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(f"unreadable datetime {value!r} in the database")
        value = parsed
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _db_datetime(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _move_silent(
    old: frozenset[str], new: str, threshold: timedelta, now: datetime
) -> list[StatusChange]:
    """Move endpoints in `old` statuses, silent for `threshold`, to `new`."""
    params: dict[str, Any] = {
        "new": new,
        "reason": StatusReason.SWEEP.value,
        "now": _db_datetime(now),
        "cutoff": _db_datetime(now - threshold),
        "details": "{}",
    }
    statuses = sorted(str(status) for status in old)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            params.update(old=statuses, threshold=threshold)
            cursor.execute(POSTGRES_STEP, params)
            rows = cursor.fetchall()
        else:
            params["old"] = json.dumps(statuses)
            params["shift"] = f"+{int(threshold.total_seconds())} seconds"
            cursor.execute(SQLITE_INSERT, params)
            rows = cursor.fetchall()
            cursor.execute(SQLITE_UPDATE, params)
            if cursor.rowcount != len(rows):
                raise RuntimeError(
                    f"sweep recorded {len(rows)} changes but moved {cursor.rowcount} "
                    "endpoints; the SQLite transaction did not hold the write lock"
                )

    changes = []
    for change_id, endpoint_id, old_status, at in rows:
        change = StatusChange(
            id=change_id,
            endpoint_id=endpoint_id,
            old_status=old_status,
            new_status=new,
            reason=StatusReason.SWEEP,
            at=_datetime(at),
            recorded=now,
            details={},
        )
        change._state.adding = False
        change._state.db = connection.alias
        changes.append(change)
    return changes


def sweep_statuses(now: datetime) -> dict[str, list[StatusChange]]:
    """Mark silent endpoints offline, then missing, in one transaction.

    An endpoint silent for longer than both thresholds gets both rows, offline
    first. One `endpoint.swept` audit event lists the changes, and
    `status_changed` is sent once per StatusChange after commit: the audit
    app stores events one row each, so an event per change would cost one
    query per endpoint.
    """
    with transaction.atomic():
        changes = {
            EndpointStatus.OFFLINE.value: _move_silent(
                SWEEPABLE, EndpointStatus.OFFLINE, offline_after(), now
            ),
            EndpointStatus.MISSING.value: _move_silent(
                frozenset({EndpointStatus.OFFLINE}),
                EndpointStatus.MISSING,
                missing_after(),
                now,
            ),
        }
        moved = [change for rows in changes.values() for change in rows]
        if moved:
            record_event(
                "endpoint.swept",
                ", ".join(
                    f"{len(rows)} endpoints went {status}"
                    for status, rows in changes.items()
                    if rows
                )
                + " after silence.",
                details={
                    status: [[row.endpoint_id, row.pk] for row in rows]
                    for status, rows in changes.items()
                },
            )
        for change in moved:
            send_status_changed(change)
    return changes


def expire_agent_tasks(now: datetime) -> list[AgentTask]:
    """Mark queued tasks whose `expires` has passed as expired, in one statement.

    Sends `agent_task_finished` for each after commit and records one
    `endpoint.agent_tasks_expired` audit event that lists them.
    """
    params = {
        "expired": TaskStatus.EXPIRED.value,
        "queued": TaskStatus.QUEUED.value,
        "now": _db_datetime(now),
    }
    return _end_tasks(
        EXPIRE_TASKS,
        params,
        status=TaskStatus.EXPIRED,
        error="",
        now=now,
        event="endpoint.agent_tasks_expired",
        summary="{count} agent tasks expired before delivery.",
    )


def time_out_agent_tasks(now: datetime) -> list[AgentTask]:
    """Fail delivered tasks with no result EXEC_AGENT_TASK_TIMEOUT s after `sent`.

    The agent may have been reinstalled, restarted in the middle of the task
    or switched off for good. Failing the task ends the playbook step that
    waits for it. A result that arrives later gets 409, like any result for a
    finished task. Sends `agent_task_finished` for each after commit and
    records one `endpoint.agent_tasks_timed_out` audit event that lists them.
    """
    timeout = settings.EXEC_AGENT_TASK_TIMEOUT
    params = {
        "failed": TaskStatus.FAILED.value,
        "sent": TaskStatus.SENT.value,
        "running": TaskStatus.RUNNING.value,
        "now": _db_datetime(now),
        "cutoff": _db_datetime(now - timedelta(seconds=timeout)),
        "error": (
            f"timed out: no result {timeout} s after the task was delivered "
            "(EXEC_AGENT_TASK_TIMEOUT); the agent may have restarted or lost "
            "the task, so check it and run the step again"
        ),
    }
    return _end_tasks(
        TIME_OUT_TASKS,
        params,
        status=TaskStatus.FAILED,
        error=params["error"],
        now=now,
        event="endpoint.agent_tasks_timed_out",
        summary=f"{{count}} agent tasks timed out after {timeout} s without a result.",
    )


def _end_tasks(
    statement: str,
    params: dict[str, Any],
    *,
    status: str,
    error: str,
    now: datetime,
    event: str,
    summary: str,
) -> list[AgentTask]:
    """Run an UPDATE ... RETURNING that ends tasks; record and announce them."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall()

        tasks = []
        for task_id, endpoint_id, task_type, parameters, created, sent, expires in rows:
            task = AgentTask(
                id=task_id,
                endpoint_id=endpoint_id,
                type=task_type,
                parameters=(
                    json.loads(parameters)
                    if isinstance(parameters, str)
                    else parameters
                ),
                status=status,
                created=_datetime(created),
                sent=_datetime(sent) if sent else None,
                completed=now,
                expires=_datetime(expires),
                error=error,
            )
            task._state.adding = False
            task._state.db = connection.alias
            tasks.append(task)

        if tasks:
            record_event(
                event,
                summary.format(count=len(tasks)),
                details={"tasks": [[task.endpoint_id, task.pk] for task in tasks]},
            )
        for task in tasks:
            transaction.on_commit(_task_finished_sender(task), robust=True)
    return tasks


def _task_finished_sender(task: AgentTask) -> Callable[[], Any]:
    return lambda: agent_task_finished.send(sender=AgentTask, task=task)


def sweep(now: datetime) -> SweepResult:
    """Run every part of the periodic sweep: silent endpoints, then ended tasks."""
    result = SweepResult(changes=sweep_statuses(now))
    result.expired_tasks = expire_agent_tasks(now)
    result.timed_out_tasks = time_out_agent_tasks(now)
    logger.info(
        "endpoint sweep done offline=%d missing=%d expired_tasks=%d timed_out_tasks=%d",
        len(result.changes[EndpointStatus.OFFLINE]),
        len(result.changes[EndpointStatus.MISSING]),
        len(result.expired_tasks),
        len(result.timed_out_tasks),
    )
    return result
