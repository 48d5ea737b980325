import pytest
from django.core.management import call_command
from django_q.models import Schedule

from exec_site import schedules
from exec_site.management.commands.setup_schedules import apply_schedules

pytestmark = pytest.mark.django_db

DECLARED = [
    schedules.PeriodicTask("sweep", "exec_site.health.check_database", 1),
    schedules.PeriodicTask("purge", "exec_site.health.check_broker", 60),
]


def test_apply_schedules_creates_then_leaves_alone():
    first = apply_schedules(DECLARED)
    second = apply_schedules(DECLARED)

    assert first == {"created": 2, "updated": 0, "unchanged": 0, "deleted": 0}
    assert second == {"created": 0, "updated": 0, "unchanged": 2, "deleted": 0}
    sweep = Schedule.objects.get(name="exec:sweep")
    assert sweep.func == "exec_site.health.check_database"
    assert sweep.schedule_type == Schedule.MINUTES
    assert sweep.minutes == 1
    assert sweep.repeats == -1


def test_apply_schedules_updates_changed_interval():
    apply_schedules(DECLARED)
    changed = [schedules.PeriodicTask("sweep", "exec_site.health.check_database", 5)]

    counts = apply_schedules(changed)

    assert counts == {"created": 0, "updated": 1, "unchanged": 0, "deleted": 1}
    assert Schedule.objects.get(name="exec:sweep").minutes == 5
    assert not Schedule.objects.filter(name="exec:purge").exists()


def test_apply_schedules_keeps_operator_schedules():
    Schedule.objects.create(name="nightly export", func="math.floor", args="1")

    apply_schedules([])

    assert Schedule.objects.filter(name="nightly export").exists()


def test_setup_schedules_command_reports(capsys):
    call_command("setup_schedules")

    output = capsys.readouterr().out
    assert output.startswith("Schedules: ")
    assert Schedule.objects.filter(name__startswith="exec:").count() == len(
        schedules.SCHEDULES
    )


def test_declared_schedules_point_at_importable_functions():
    from django.utils.module_loading import import_string

    for task in schedules.SCHEDULES:
        assert callable(import_string(task.func)), task.func
        assert task.minutes >= 1
