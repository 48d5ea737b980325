import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from endpoints.authentication import endpoint_for_token
from endpoints.checkin import CheckinReport, record_checkin
from endpoints.models import AgentTask, Endpoint, StatusChange
from endpoints.sweep import (
    expire_agent_tasks,
    sweep,
    sweep_statuses,
    time_out_agent_tasks,
)
from endpoints.tasks import sweep_endpoints
from endpoints.tests.conftest import agent_client

pytestmark = pytest.mark.django_db

OFFLINE_AFTER = timedelta(seconds=180)
MISSING_AFTER = timedelta(days=7)


def test_sweep_tables_match_models():
    from endpoints.models import AgentTask as Task

    assert Endpoint._meta.db_table == "endpoints_endpoint"
    assert StatusChange._meta.db_table == "endpoints_statuschange"
    assert Task._meta.db_table == "endpoints_agenttask"


def test_sweep_marks_silent_offline(make_endpoint, now):
    last_seen = now - OFFLINE_AFTER - timedelta(seconds=1)
    silent, _ = make_endpoint(last_seen=last_seen)
    fresh, _ = make_endpoint(last_seen=now - OFFLINE_AFTER + timedelta(seconds=1))

    changes = sweep_statuses(now)

    assert [change.endpoint_id for change in changes["offline"]] == [silent.pk]
    assert changes["missing"] == []
    silent.refresh_from_db()
    fresh.refresh_from_db()
    assert silent.status == "offline"
    assert silent.status_changed == last_seen + OFFLINE_AFTER
    assert fresh.status == "online"
    row = StatusChange.objects.get()
    assert (row.old_status, row.new_status, row.reason) == (
        "online",
        "offline",
        "sweep",
    )
    assert row.at == last_seen + OFFLINE_AFTER
    assert row.recorded == now
    assert row.pk == changes["offline"][0].pk


@pytest.mark.parametrize("old_status", ["suspended", "shutdown"])
def test_sweep_moves_sleeping_endpoints(make_endpoint, now, old_status):
    endpoint, _ = make_endpoint(status=old_status, last_seen=now - timedelta(hours=1))

    sweep_statuses(now)

    endpoint.refresh_from_db()
    assert endpoint.status == "offline"
    assert StatusChange.objects.get().old_status == old_status


@pytest.mark.parametrize(
    "status", ["missing", "uninstalled", "decommissioned", "offline"]
)
def test_sweep_leaves_other_statuses(make_endpoint, now, status):
    endpoint, _ = make_endpoint(status=status, last_seen=now - timedelta(days=1))

    sweep_statuses(now)

    endpoint.refresh_from_db()
    assert endpoint.status == status
    assert not StatusChange.objects.exists()


def test_sweep_marks_offline_missing(make_endpoint, now):
    last_seen = now - MISSING_AFTER - timedelta(minutes=1)
    endpoint, _ = make_endpoint(status="offline", last_seen=last_seen)

    changes = sweep_statuses(now)

    endpoint.refresh_from_db()
    assert endpoint.status == "missing"
    assert endpoint.status_changed == last_seen + MISSING_AFTER
    assert [change.endpoint_id for change in changes["missing"]] == [endpoint.pk]
    row = StatusChange.objects.get()
    assert (row.old_status, row.new_status, row.at) == (
        "offline",
        "missing",
        last_seen + MISSING_AFTER,
    )


def test_sweep_long_silence_writes_both_rows(make_endpoint, now):
    last_seen = now - timedelta(days=30)
    endpoint, _ = make_endpoint(last_seen=last_seen)

    sweep_statuses(now)

    endpoint.refresh_from_db()
    assert endpoint.status == "missing"
    rows = list(StatusChange.objects.order_by("at"))
    assert [(row.old_status, row.new_status, row.at) for row in rows] == [
        ("online", "offline", last_seen + OFFLINE_AFTER),
        ("offline", "missing", last_seen + MISSING_AFTER),
    ]


def test_sweep_second_run_changes_nothing(make_endpoint, now):
    make_endpoint(last_seen=now - timedelta(hours=1))
    sweep_statuses(now)

    changes = sweep_statuses(now + timedelta(seconds=60))

    assert changes == {"offline": [], "missing": []}
    assert StatusChange.objects.count() == 1


def test_sweep_never_seen_endpoint_left_alone(make_endpoint, now):
    endpoint, _ = make_endpoint(last_seen=None, source="crowdstrike")

    sweep_statuses(now)

    endpoint.refresh_from_db()
    assert endpoint.status == "online"


def test_sweep_signals_and_one_audit_event(
    make_endpoint,
    now,
    audit_events,
    status_signals,
    django_capture_on_commit_callbacks,
):
    endpoints = [make_endpoint(last_seen=now - timedelta(hours=1))[0] for _ in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        changes = sweep_statuses(now)

    assert audit_events.kinds() == ["endpoint.swept"]
    assert audit_events.calls[0]["summary"] == "3 endpoints went offline after silence."
    assert sorted(audit_events.calls[0]["details"]["offline"]) == sorted(
        [change.endpoint_id, change.pk] for change in changes["offline"]
    )
    sent = [call["status_change"] for call in status_signals.calls]
    assert sorted(change.endpoint_id for change in sent) == sorted(
        endpoint.pk for endpoint in endpoints
    )
    assert all(change.reason == "sweep" for change in sent)


def test_sweep_nothing_to_do_records_nothing(make_endpoint, now, audit_events):
    make_endpoint()

    sweep_statuses(now)

    assert audit_events.calls == []


def _sweep_queries(make_endpoint, now, count):
    for number in range(count):
        # Every tenth endpoint is silent; one in fifty has been for a week.
        if number % 50 == 0:
            last_seen = now - timedelta(days=8)
        elif number % 10 == 0:
            last_seen = now - timedelta(minutes=10)
        else:
            last_seen = now
        make_endpoint(last_seen=last_seen)

    with CaptureQueriesContext(connection) as queries:
        result = sweep(now)
    assert sum(result.counts().values()) > 0
    return len(queries)


def test_sweep_queries_same_at_10_and_1000(make_endpoint, now):
    small = _sweep_queries(make_endpoint, now, 10)
    Endpoint.objects.all().delete()
    large = _sweep_queries(make_endpoint, now, 1000)

    assert large == small
    assert StatusChange.objects.filter(new_status="missing").count() == 20


def test_expire_tasks_marks_only_undelivered(
    endpoint,
    make_task,
    now,
    task_signals,
    audit_events,
    django_capture_on_commit_callbacks,
):
    late = make_task(endpoint, expires=now - timedelta(seconds=1))
    due = make_task(endpoint, expires=now + timedelta(minutes=1))
    sent = make_task(endpoint, status="sent", expires=now - timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        expired = expire_agent_tasks(now)

    assert [task.pk for task in expired] == [late.pk]
    late.refresh_from_db()
    due.refresh_from_db()
    sent.refresh_from_db()
    assert (late.status, late.completed) == ("expired", now)
    assert due.status == "queued"
    assert sent.status == "sent"
    finished = [call["task"] for call in task_signals.calls]
    assert [task.pk for task in finished] == [late.pk]
    assert finished[0].parameters == {"artifacts": ["processes"]}
    assert finished[0].status == "expired"
    assert audit_events.kinds() == ["endpoint.agent_tasks_expired"]


def test_time_out_tasks_fails_only_overdue(
    endpoint,
    make_task,
    now,
    settings,
    task_signals,
    audit_events,
    django_capture_on_commit_callbacks,
):
    settings.EXEC_AGENT_TASK_TIMEOUT = 3600
    overdue = make_task(endpoint, status="sent", sent=now - timedelta(seconds=3600))
    running = make_task(endpoint, status="running", sent=now - timedelta(hours=5))
    recent = make_task(endpoint, status="sent", sent=now - timedelta(seconds=3599))
    queued = make_task(endpoint, created=now - timedelta(hours=5))
    done = make_task(
        endpoint, status="succeeded", sent=now - timedelta(hours=5), completed=now
    )

    with django_capture_on_commit_callbacks(execute=True):
        timed_out = time_out_agent_tasks(now)

    assert sorted(task.pk for task in timed_out) == sorted([overdue.pk, running.pk])
    for task in (overdue, running):
        task.refresh_from_db()
        assert (task.status, task.completed) == ("failed", now)
        assert task.error.startswith("timed out: no result 3600 s after the task")
    for task, status in ((recent, "sent"), (queued, "queued"), (done, "succeeded")):
        task.refresh_from_db()
        assert task.status == status
    finished = sorted(
        (call["task"] for call in task_signals.calls), key=lambda task: task.pk
    )
    assert [task.pk for task in finished] == sorted([overdue.pk, running.pk])
    assert finished[0].status == "failed"
    assert finished[0].error == overdue.error
    assert finished[0].sent == overdue.sent
    assert audit_events.kinds() == ["endpoint.agent_tasks_timed_out"]


def test_time_out_tasks_one_statement(endpoint, make_task, now, settings):
    settings.EXEC_AGENT_TASK_TIMEOUT = 60
    for _ in range(5):
        make_task(endpoint, status="sent", sent=now - timedelta(minutes=2))

    with CaptureQueriesContext(connection) as queries:
        assert len(time_out_agent_tasks(now)) == 5

    task_queries = [query for query in queries if "endpoints_agenttask" in query["sql"]]
    assert len(task_queries) == 1


def test_late_result_after_time_out_rejected(
    endpoint_and_token, make_task, now, settings
):
    settings.EXEC_AGENT_TASK_TIMEOUT = 60
    endpoint, token = endpoint_and_token
    task = make_task(endpoint, status="running", sent=now - timedelta(minutes=2))
    time_out_agent_tasks(now)

    response = agent_client(token).post(
        f"/api/v1/agent/tasks/{task.pk}/result",
        {"status": "succeeded", "result": {"rows": 1}},
        format="json",
    )

    assert response.status_code == 409
    task.refresh_from_db()
    assert task.status == "failed"
    assert task.result is None


def test_sweep_task_returns_counts(make_endpoint, make_task, now, settings):
    settings.EXEC_AGENT_TASK_TIMEOUT = 60
    endpoint, _ = make_endpoint(last_seen=now - timedelta(minutes=10))
    make_task(endpoint, expires=now - timedelta(minutes=1))
    make_task(endpoint, status="sent", sent=now - timedelta(minutes=2))

    counts = sweep_endpoints()

    assert counts == {
        "offline": 1,
        "missing": 0,
        "expired_tasks": 1,
        "timed_out_tasks": 1,
    }


def test_sweep_endpoints_command_prints_counts(make_endpoint, now, capsys):
    make_endpoint(last_seen=now - timedelta(minutes=10))
    make_endpoint(status="offline", last_seen=now - timedelta(days=10))

    call_command("sweep_endpoints")

    assert capsys.readouterr().out.splitlines() == [
        "1 endpoints changed to offline.",
        "1 endpoints changed to missing.",
        "0 agent tasks expired.",
        "0 agent tasks timed out without a result.",
    ]


# Races on PostgreSQL: a check-in and the sweep on the same silent endpoint.


def _in_thread(target):
    errors = []

    def run():
        try:
            target()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.django_db(transaction=True)
def test_sweep_skips_endpoint_during_checkin(postgres_only, make_endpoint, now):
    """A check-in holding the row when the sweep runs wins: no offline row."""
    endpoint, token = make_endpoint(last_seen=now - timedelta(minutes=10))
    holding = threading.Event()
    release = threading.Event()

    def slow_checkin():
        authenticated = endpoint_for_token(token)
        with transaction.atomic():
            record_checkin(authenticated, CheckinReport(), now=now)
            holding.set()
            release.wait(timeout=20)

    thread, errors = _in_thread(slow_checkin)
    assert holding.wait(timeout=20)
    changes = sweep_statuses(now)
    release.set()
    thread.join(timeout=20)

    assert errors == []
    assert changes["offline"] == []
    endpoint.refresh_from_db()
    assert endpoint.status == "online"
    assert endpoint.last_seen == now
    assert not StatusChange.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sweep_then_concurrent_checkin_ends_online(postgres_only, make_endpoint, now):
    """A check-in that arrives while the sweep locks the row waits, then wins."""
    last_seen = now - timedelta(minutes=10)
    endpoint, token = make_endpoint(last_seen=last_seen)
    authenticated = endpoint_for_token(token)
    swept = threading.Event()
    release = threading.Event()

    def slow_sweep():
        with transaction.atomic():
            sweep_statuses(now)
            swept.set()
            release.wait(timeout=20)

    sweeper, sweep_errors = _in_thread(slow_sweep)
    assert swept.wait(timeout=20)
    checker, checkin_errors = _in_thread(
        lambda: record_checkin(authenticated, CheckinReport(), now=now)
    )
    time.sleep(0.5)
    blocked = checker.is_alive()
    release.set()
    sweeper.join(timeout=20)
    checker.join(timeout=20)

    assert sweep_errors == []
    assert checkin_errors == []
    assert blocked, "the check-in should wait for the sweep's row lock"
    endpoint.refresh_from_db()
    assert endpoint.status == "online"
    assert endpoint.last_seen == now
    rows = list(StatusChange.objects.order_by("id"))
    assert [(row.old_status, row.new_status, row.reason) for row in rows] == [
        ("online", "offline", "sweep"),
        ("offline", "online", "checkin"),
    ]
    assert rows[0].at == last_seen + OFFLINE_AFTER
    assert rows[1].at == now
    assert not AgentTask.objects.exists()
