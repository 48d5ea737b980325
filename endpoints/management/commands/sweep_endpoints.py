"""Run the endpoint silence sweep once, as the periodic task does."""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from endpoints.sweep import sweep


class Command(BaseCommand):
    help = (
        "Mark silent endpoints offline or missing, expire undelivered agent "
        "tasks and fail delivered ones whose result is overdue, once; print "
        "what changed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = sweep(timezone.now())
        for status, count in result.counts().items():
            self.stdout.write(f"{count} endpoints changed to {status}.")
        self.stdout.write(f"{len(result.expired_tasks)} agent tasks expired.")
        self.stdout.write(
            f"{len(result.timed_out_tasks)} agent tasks timed out without a result."
        )
