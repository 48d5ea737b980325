"""django-q2 tasks of approvals: thin, taking ids, safe to run twice."""

import logging

from django.utils import timezone

from approvals import actions, notify

logger = logging.getLogger(__name__)


def send_notifications(request_id: int, kind: str) -> dict[str, str]:
    """Send a request's notice on each channel that has not had it yet."""
    return notify.deliver(request_id, kind)


def sweep() -> dict[str, int]:
    """Expire due requests, send due reminders and tidy up after lost work."""
    counts = actions.sweep(timezone.now())
    if any(counts.values()):
        logger.info(
            "approval sweep %s", " ".join(f"{k}={v}" for k, v in counts.items())
        )
    return counts
