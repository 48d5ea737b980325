"""Endpoint status transitions and the silence thresholds they depend on.

`change_status` is the one function that moves a single endpoint from one
status to another. The silence sweep in `endpoints.sweep` does the same for
many endpoints at once with set-based SQL.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from endpoints.choices import StatusReason
from endpoints.models import Endpoint, StatusChange
from endpoints.signals import status_changed
from exec_site.events import record_event

logger = logging.getLogger(__name__)


def checkin_interval() -> int:
    """Return the interval between check-ins, in seconds, sent to agents."""
    return settings.EXEC_CHECKIN_INTERVAL


def offline_after() -> timedelta:
    """Return the silence after which an endpoint is offline: two intervals + grace."""
    return timedelta(seconds=2 * checkin_interval() + settings.EXEC_OFFLINE_GRACE)


def missing_after() -> timedelta:
    """Return the silence after which an offline endpoint is missing."""
    return timedelta(days=settings.EXEC_MISSING_AFTER_DAYS)


def send_status_changed(change: StatusChange) -> None:
    """Send `status_changed` for one row once the current transaction commits."""
    transaction.on_commit(
        lambda: status_changed.send(sender=StatusChange, status_change=change),
        robust=True,
    )


def change_status(
    endpoint: Endpoint,
    new_status: str,
    *,
    reason: StatusReason,
    at: datetime,
    actor: Any = None,
    details: dict[str, Any] | None = None,
    update_fields: tuple[str, ...] = (),
) -> StatusChange | None:
    """Move `endpoint` to `new_status` and record the change.

    Saves the endpoint (with `update_fields` besides the status), writes one
    StatusChange and one `endpoint.status_changed` audit event in the same
    transaction, and sends `status_changed` after commit. Returns None and
    writes nothing when the status is unchanged. The caller must hold the
    endpoint's row lock (`select_for_update`) so that the old status is true.
    """
    old_status = endpoint.status
    if old_status == new_status:
        return None

    with transaction.atomic():
        endpoint.status = new_status
        endpoint.status_changed = at
        endpoint.save(update_fields=["status", "status_changed", *update_fields])
        change = StatusChange.objects.create(
            endpoint=endpoint,
            old_status=old_status,
            new_status=new_status,
            reason=reason,
            at=at,
            details=details or {},
        )
        record_event(
            "endpoint.status_changed",
            f"{endpoint.hostname} went from {old_status} to {new_status} "
            f"({StatusReason(reason).label.lower()}).",
            actor=actor,
            subject=endpoint,
            endpoint_id=endpoint.pk,
            details={
                "status_change_id": change.pk,
                "old_status": old_status,
                "new_status": new_status,
                "reason": str(reason),
                "at": at.isoformat(),
                **(details or {}),
            },
        )
        send_status_changed(change)

    logger.info(
        "endpoint status changed endpoint_id=%s old=%s new=%s reason=%s",
        endpoint.pk,
        old_status,
        new_status,
        reason,
    )
    return change
