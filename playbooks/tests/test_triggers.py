import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from endpoints.models import StatusChange
from endpoints.signals import status_changed
from playbooks import triggers
from playbooks.choices import RunTrigger, WatchStatus
from playbooks.models import PlaybookRun, StatusWatch

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def change_status(endpoint, new, at):
    """Record a status change the way the endpoints app does, then signal it."""
    change = StatusChange.objects.create(
        endpoint=endpoint,
        old_status=endpoint.status,
        new_status=new,
        reason="sweep",
        at=at,
    )
    endpoint.status = new
    endpoint.status_changed = at
    endpoint.save(update_fields=["status", "status_changed"])
    status_changed.send(sender=StatusChange, status_change=change)
    return change


def test_status_change_starts_matching_playbook(queue, make_playbook, endpoint, now):
    matching = make_playbook(
        trigger_type="endpoint_status",
        trigger_config={"from": ["missing", "offline"], "to": ["online"]},
        conditions=[
            {"field": "endpoint.hostname", "operator": "eq", "value": "ws-042"}
        ],
    )
    make_playbook(trigger_type="endpoint_status", trigger_config={"to": ["shutdown"]})
    endpoint.status = "missing"

    queue.call(change_status, endpoint, "online", now)

    run = PlaybookRun.objects.get()
    assert run.playbook == matching
    assert run.trigger == RunTrigger.ENDPOINT_STATUS
    assert run.endpoint == endpoint
    assert run.status_change.new_status == "online"


def test_status_condition_filters(queue, make_playbook, endpoint, now):
    make_playbook(
        trigger_type="endpoint_status",
        trigger_config={"to": ["offline"]},
        conditions=[
            {"field": "status_change.reason", "operator": "eq", "value": "agent_event"}
        ],
    )

    queue.call(change_status, endpoint, "offline", now)

    assert PlaybookRun.objects.count() == 0


def test_still_offline_after_flapping_starts_one_run(
    queue, make_playbook, endpoint, time_machine
):
    playbook = make_playbook(
        trigger_type="endpoint_status",
        trigger_config={"to": ["offline"], "for_minutes": 15},
    )
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    # offline, back online two minutes later, offline again a minute after.
    queue.call(change_status, endpoint, "offline", start)
    queue.call(change_status, endpoint, "online", start + dt.timedelta(minutes=2))
    queue.call(change_status, endpoint, "offline", start + dt.timedelta(minutes=3))
    assert StatusWatch.objects.count() == 2
    assert PlaybookRun.objects.count() == 0

    time_machine.move_to(start + dt.timedelta(minutes=16))
    first_due = queue.call(triggers.check_status_watches, timezone.now())
    time_machine.move_to(start + dt.timedelta(minutes=19))
    second_due = queue.call(triggers.check_status_watches, timezone.now())
    again = queue.call(triggers.check_status_watches, timezone.now())

    assert first_due == []
    assert len(second_due) == 1
    assert again == []
    run = PlaybookRun.objects.get()
    assert run.playbook == playbook
    statuses = sorted(StatusWatch.objects.values_list("status", flat=True))
    assert statuses == [WatchStatus.DROPPED, WatchStatus.STARTED]


def test_watch_dropped_when_back_online(queue, make_playbook, endpoint, now):
    make_playbook(
        trigger_type="endpoint_status",
        trigger_config={"to": ["offline"], "for_minutes": 10},
    )
    queue.call(change_status, endpoint, "offline", now - dt.timedelta(minutes=20))
    queue.call(change_status, endpoint, "online", now - dt.timedelta(minutes=15))

    runs = queue.call(triggers.check_status_watches, now)

    assert runs == []
    assert StatusWatch.objects.get().status == WatchStatus.DROPPED


def test_next_due_interval():
    after = dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.UTC)

    assert triggers.next_due({"interval_minutes": 90}, after) == after + dt.timedelta(
        minutes=90
    )


def test_next_due_cron_in_time_zone():
    config = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    after = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)

    due = triggers.next_due(config, after)

    assert due.astimezone(BERLIN) == dt.datetime(2026, 6, 2, 2, 30, tzinfo=BERLIN)


def test_next_due_spring_forward_fires_once_after_gap():
    # 29 March 2026: Berlin clocks jump from 02:00 to 03:00, so 02:30 is skipped.
    config = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    before = dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC)

    due = triggers.next_due(config, before)
    following = triggers.next_due(config, due)

    assert due == dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)
    assert due.astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    assert following.astimezone(BERLIN) == dt.datetime(
        2026, 3, 30, 2, 30, tzinfo=BERLIN
    )


def test_next_due_fall_back_fires_once():
    # 1 November 2026: New York repeats 01:00-02:00.
    config = {"cron": "30 1 * * *", "timezone": "America/New_York"}
    before = dt.datetime(2026, 10, 31, 12, 0, tzinfo=dt.UTC)

    due = triggers.next_due(config, before)
    following = triggers.next_due(config, due)

    assert due == dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC)  # 01:30 EDT
    assert following == dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.UTC)  # 01:30 EST


def test_schedule_runs_once_per_due_time_across_dst(queue, make_playbook, time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC), tick=False)
    playbook = make_playbook(
        trigger_type="schedule",
        trigger_config={"cron": "30 2 * * *", "timezone": "Europe/Berlin"},
        target_kind="none",
    )
    assert playbook.next_run == dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)

    fired = []
    minute = timezone.now()
    end = dt.datetime(2026, 3, 30, 12, 0, tzinfo=dt.UTC)
    while minute < end:
        minute += dt.timedelta(minutes=10)
        time_machine.move_to(minute, tick=False)
        fired += queue.call(triggers.run_due_schedules, minute)
        # A second scheduler in the same minute finds nothing to claim.
        assert queue.call(triggers.run_due_schedules, minute) == []
        queue.drain()

    local_times = [run.created.astimezone(BERLIN).strftime("%d %H:%M") for run in fired]
    assert local_times == ["29 03:00", "30 02:30"]


def test_schedule_selects_endpoint_targets(queue, make_playbook, make_endpoint, now):
    stale = make_endpoint(status="missing", last_seen=now - dt.timedelta(days=40))
    make_endpoint(status="missing", last_seen=now - dt.timedelta(days=3))
    make_endpoint(status="online", last_seen=now - dt.timedelta(days=40))
    playbook = make_playbook(
        trigger_type="schedule",
        trigger_config={"interval_minutes": 60},
        conditions=[
            {"field": "endpoint.status", "operator": "eq", "value": "missing"},
            {"field": "endpoint.last_seen", "operator": "lte", "value": "now-30d"},
        ],
    )
    due = playbook.next_run

    runs = queue.call(triggers.run_due_schedules, due)

    assert [run.endpoint for run in runs] == [stale]
    playbook.refresh_from_db()
    assert playbook.next_run == due + dt.timedelta(minutes=60)


def test_disabled_schedule_has_no_next_run(make_playbook):
    playbook = make_playbook(
        trigger_type="schedule", trigger_config={"interval_minutes": 5}, enabled=False
    )

    assert playbook.next_run is None
