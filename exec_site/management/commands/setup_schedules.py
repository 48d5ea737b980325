"""Apply the declared periodic tasks to django-q2's schedule table."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_q.models import Schedule

from exec_site import schedules


def apply_schedules(declared: list[schedules.PeriodicTask]) -> dict[str, int]:
    """Create, update and delete Exec's schedules to match `declared`."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}
    names = {task.schedule_name for task in declared}

    with transaction.atomic():
        for task in declared:
            desired = {
                "func": task.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": task.minutes,
                "repeats": -1,
            }
            schedule = Schedule.objects.filter(name=task.schedule_name).first()
            if schedule is None:
                Schedule.objects.create(name=task.schedule_name, **desired)
                counts["created"] += 1
            elif any(getattr(schedule, key) != value for key, value in desired.items()):
                for key, value in desired.items():
                    setattr(schedule, key, value)
                schedule.save()
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1

        stale = Schedule.objects.filter(name__startswith=schedules.PREFIX).exclude(
            name__in=names
        )
        counts["deleted"], _ = stale.delete()
    return counts


class Command(BaseCommand):
    help = "Create or update Exec's periodic tasks in django-q2; safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = apply_schedules(schedules.SCHEDULES)
        self.stdout.write(
            "Schedules: {created} created, {updated} updated, "
            "{unchanged} unchanged, {deleted} deleted.".format(**counts)
        )
