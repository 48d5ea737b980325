"""Background tasks of the audit app; each takes ids and is idempotent."""

from django.utils import timezone

from audit import actions


def build_report(job_id: int) -> bool:
    return actions.build_report(job_id, now=timezone.now())
