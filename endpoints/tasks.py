"""Periodic tasks of the endpoints app, run by django-q2."""

from django.utils import timezone

from endpoints.sweep import sweep


def sweep_endpoints() -> dict[str, int]:
    """Run the silence sweep and end overdue agent tasks; safe to run twice.

    Returns the number of endpoints moved to each status, of expired tasks and
    of tasks that timed out waiting for a result.
    """
    result = sweep(timezone.now())
    return {
        **result.counts(),
        "expired_tasks": len(result.expired_tasks),
        "timed_out_tasks": len(result.timed_out_tasks),
    }
