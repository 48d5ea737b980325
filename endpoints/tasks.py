"""Periodic tasks of the endpoints app, run by django-q2."""

from django.utils import timezone

from endpoints.sweep import sweep


def sweep_endpoints() -> dict[str, int]:
    """Run the silence sweep and expire undelivered tasks; safe to run twice.

    Returns the number of endpoints moved to each status and of expired tasks.
    """
    result = sweep(timezone.now())
    return {**result.counts(), "expired_tasks": len(result.expired_tasks)}
