"""Every periodic task Exec runs, declared in one place.

`python manage.py setup_schedules` applies this list to django-q2's Schedule
table: it creates or updates each entry by name and deletes Exec schedules
that are no longer declared. Schedules that operators add by hand, whose
names do not start with `exec:`, are left alone.
"""

from dataclasses import dataclass

PREFIX = "exec:"


@dataclass(frozen=True)
class PeriodicTask:
    """A task that django-q2 runs every `minutes` minutes."""

    name: str
    func: str
    minutes: int

    @property
    def schedule_name(self) -> str:
        return PREFIX + self.name


# django-q2's scheduler wakes about every 30 seconds, so work that must happen
# sooner than a minute runs from claimed rows, not from a schedule.
SCHEDULES: list[PeriodicTask] = [
    # Marks silent endpoints offline and missing, and expires undelivered
    # agent tasks.
    PeriodicTask("sweep_endpoints", "endpoints.tasks.sweep_endpoints", 1),
    PeriodicTask("forensics-purge", "forensics.tasks.purge_expired_forensics", 24 * 60),
    PeriodicTask("playbooks-tick", "playbooks.tasks.tick", 1),
    PeriodicTask("playbooks-watchdog", "playbooks.tasks.watchdog", 1),
    PeriodicTask("approvals-sweep", "approvals.tasks.sweep", 1),
    # Records the audit chain head outside the database. Events appended after
    # the newest anchor can be removed without trace, so the interval bounds
    # that window. Hourly keeps the window short and costs 24 log lines a day.
    # The anchor file grows by at most as many, because an unchanged head adds
    # no line.
    PeriodicTask("audit-anchor", "audit.tasks.anchor_chain", 60),
]
