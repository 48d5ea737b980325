"""The one way any app records a domain event in the audit timeline.

Apps below `audit` cannot import it, so they call `record_event`, which sends
`event_recorded` synchronously. The audit app's receiver stores the event in
the caller's transaction, so the event commits or rolls back with the change
it describes.
"""

from typing import Any

from django.db.models import Model
from django.dispatch import Signal

event_recorded = Signal()


def record_event(
    kind: str,
    summary: str,
    *,
    actor: Any = None,
    subject: Model | None = None,
    endpoint_id: int | None = None,
    playbook_id: int | None = None,
    playbook_version: int | None = None,
    run_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record one event, such as `endpoint.status_changed` or `approval.decided`.

    `actor` is a user, None for the automation (then `run_id` names the run),
    or a string such as "agent:42" for an endpoint's agent. `details` must be
    JSON-serializable and must not contain secrets.
    """
    event_recorded.send(
        sender=record_event,
        kind=kind,
        summary=summary,
        actor=actor,
        subject=subject,
        endpoint_id=endpoint_id,
        playbook_id=playbook_id,
        playbook_version=playbook_version,
        run_id=run_id,
        details=details or {},
    )
