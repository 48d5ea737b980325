import datetime as dt
import random
import threading

import pytest
from django.db import connection
from django.utils import timezone

from endpoints.choices import TaskStatus
from endpoints.models import AgentTask
from exec_site.events import event_recorded
from playbooks import engine, hooks
from playbooks.choices import RunStatus, RunTrigger, StepStatus, WaitingFor
from playbooks.models import PlaybookRun, StepRun
from playbooks.tests.conftest import CALLS

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    recorded = []

    def receiver(sender, **kwargs):
        recorded.append(kwargs)

    event_recorded.connect(receiver, dispatch_uid="test-engine-events")
    yield recorded
    event_recorded.disconnect(dispatch_uid="test-engine-events")


def start(queue, playbook, **kwargs):
    kwargs.setdefault("trigger", RunTrigger.MANUAL)
    kwargs.setdefault("now", timezone.now())
    return queue.call(engine.start_run, playbook, **kwargs)


def test_start_run_creates_steps_and_queues_first(queue, make_playbook, endpoint):
    playbook = make_playbook(
        steps=[{"action": "test.record"}, {"action": "test.record", "name": "second"}]
    )

    run = start(queue, playbook, endpoint=endpoint)

    assert run.status == RunStatus.QUEUED
    assert run.playbook_version == playbook.version
    step_runs = list(run.step_runs.order_by("order"))
    assert [s.status for s in step_runs] == ["pending", "pending"]
    assert queue.queued == [step_runs[0].pk]


def test_run_walks_steps_to_success(queue, make_playbook, endpoint, events):
    playbook = make_playbook(
        steps=[
            {
                "action": "test.record",
                "parameters": {"note": "{{ endpoint.hostname }}"},
            },
            {"action": "test.record", "parameters": {"note": "two"}},
        ]
    )
    run = start(queue, playbook, endpoint=endpoint)

    assert queue.drain() == 2

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.started is not None
    assert run.finished is not None
    assert [call[2]["note"] for call in CALLS] == ["ws-042", "two"]
    first = run.step_runs.get(order=1)
    assert first.status == StepStatus.SUCCEEDED
    assert first.attempts == 1
    assert first.result["note"] == "ws-042"
    assert "test.record" in first.log
    assert "[step 1]" in run.log
    kinds = [event["kind"] for event in events]
    assert kinds == ["run.started", "step.succeeded", "step.succeeded", "run.succeeded"]
    assert all(event["run_id"] == run.pk for event in events)
    assert events[-1]["playbook_version"] == playbook.version


def test_run_without_steps_succeeds_at_once(queue, make_playbook):
    playbook = make_playbook()
    playbook.steps.all().delete()

    run = start(queue, playbook)

    assert run.step_runs.count() == 0
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_run_step_claim_is_single(queue, make_playbook):
    run = start(queue, make_playbook())
    step_run = run.step_runs.get()

    queue.call(engine.run_step, step_run.pk)
    queue.call(engine.run_step, step_run.pk)

    assert len(CALLS) == 1
    step_run.refresh_from_db()
    assert step_run.attempts == 1


def test_transient_error_retries_with_backoff(queue, make_playbook, time_machine):
    playbook = make_playbook(
        steps=[
            {
                "action": "test.flaky",
                "parameters": {"succeed_on": 3},
                "max_attempts": 3,
                "backoff_seconds": 10,
            }
        ]
    )
    time_machine.move_to(timezone.now(), tick=False)
    run = start(queue, playbook)
    queue.drain()

    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.PENDING
    assert "503 on attempt 1" in step_run.error
    ((step_id, first_due),) = queue.scheduled
    first_delay = (first_due - timezone.now()).total_seconds()
    assert 10 <= first_delay <= 12.5

    # Not due yet: the claim leaves it alone.
    queue.call(engine.run_step, step_id)
    assert len(CALLS) == 1

    time_machine.move_to(first_due)
    queue.call(engine.run_step, step_id)
    _, second_due = queue.scheduled[1]
    second_delay = (second_due - timezone.now()).total_seconds()
    assert 20 <= second_delay <= 25

    time_machine.move_to(second_due)
    queue.call(engine.run_step, step_id)

    step_run.refresh_from_db()
    assert step_run.status == StepStatus.SUCCEEDED
    assert step_run.attempts == 3
    assert step_run.result == {"attempts": 3}
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_transient_error_gives_up_after_max_attempts(
    queue, make_playbook, time_machine
):
    playbook = make_playbook(
        steps=[{"action": "test.flaky", "max_attempts": 2, "backoff_seconds": 1}]
    )
    run = start(queue, playbook)
    queue.drain()
    step_id, due = queue.scheduled[0]

    time_machine.move_to(due + dt.timedelta(seconds=1))
    queue.call(engine.run_step, step_id)

    step_run = StepRun.objects.get(pk=step_id)
    assert step_run.status == StepStatus.FAILED
    assert step_run.error.startswith("gave up after 2 attempts: vendor returned 503")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


def test_retry_delay_doubles_with_bounded_jitter():
    rand = random.Random(7)
    delays = [engine.retry_delay(30, attempt, rand) for attempt in (1, 2, 3)]

    for base, delay in zip((30, 60, 120), delays, strict=True):
        assert base <= delay <= base * 1.25


def test_permanent_error_stops_run(queue, make_playbook):
    playbook = make_playbook(steps=[{"action": "test.fail"}, {"action": "test.record"}])
    run = start(queue, playbook)

    queue.drain()

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == "step 1: the account does not exist"
    statuses = dict(run.step_runs.values_list("order", "status"))
    assert statuses == {1: StepStatus.FAILED, 2: StepStatus.SKIPPED}


def test_permanent_error_continue_runs_next(queue, make_playbook):
    playbook = make_playbook(
        steps=[
            {"action": "test.fail", "on_failure": "continue"},
            {"action": "test.record"},
        ]
    )
    run = start(queue, playbook)

    queue.drain()

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    statuses = dict(run.step_runs.values_list("order", "status"))
    assert statuses == {1: StepStatus.FAILED, 2: StepStatus.SUCCEEDED}


def test_unknown_template_variable_fails_step(queue, make_playbook):
    playbook = make_playbook(
        steps=[
            {"action": "test.record", "parameters": {"note": "{{ endpoint.hostname }}"}}
        ]
    )
    run = start(queue, playbook)

    queue.drain()

    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.FAILED
    assert step_run.error.startswith("parameter template failed")


def test_approval_without_requester_fails_clearly(queue, make_playbook, monkeypatch):
    monkeypatch.setattr(hooks, "_approval_requester", None)
    playbook = make_playbook(
        steps=[{"action": "test.record", "requires_approval": True}]
    )
    run = start(queue, playbook)

    queue.drain()

    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.FAILED
    assert "no approval requester is registered" in step_run.error
    assert CALLS == []


def test_approval_waits_then_executes(queue, make_playbook, approvals):
    playbook = make_playbook(steps=[{"action": "test.risky"}])
    run = start(queue, playbook)
    queue.drain()

    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.WAITING
    assert step_run.waiting_for == WaitingFor.APPROVAL
    assert [asked.pk for asked in approvals] == [step_run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.WAITING

    class Approval:
        pk = 77
        status = "approved"

    resumed = queue.call(
        engine.resume_after_approval, step_run.pk, approved=True, approval=Approval()
    )
    again = queue.call(
        engine.resume_after_approval, step_run.pk, approved=True, approval=Approval()
    )
    queue.drain()

    assert resumed is True
    assert again is False
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.SUCCEEDED
    assert step_run.result["approval"] == {"id": 77}
    assert len(CALLS) == 1


def test_approval_rejected_follows_on_failure(queue, make_playbook, approvals):
    playbook = make_playbook(
        steps=[
            {
                "action": "test.record",
                "requires_approval": True,
                "on_failure": "continue",
            },
            {"action": "test.record", "parameters": {"note": "after"}},
        ]
    )
    run = start(queue, playbook)
    queue.drain()
    waiting = run.step_runs.get(order=1)

    class Expired:
        pk = 5
        status = "expired"

    queue.call(
        engine.resume_after_approval, waiting.pk, approved=False, approval=Expired()
    )
    queue.drain()

    waiting.refresh_from_db()
    assert waiting.status == StepStatus.FAILED
    assert waiting.error == "approval expired"
    assert [call[2] for call in CALLS] == [{"note": "after"}]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_cancel_run_cancels_steps_and_tasks(queue, make_playbook, endpoint, events):
    playbook = make_playbook(
        steps=[
            {"action": "endpoint.collect_file", "parameters": {"path": "/tmp/x"}},
            {"action": "test.record"},
        ]
    )
    run = start(queue, playbook, endpoint=endpoint)
    queue.drain()
    task = AgentTask.objects.get()
    assert task.status == TaskStatus.QUEUED

    cancelled = engine.cancel_run(run, actor=None)

    assert cancelled is True
    assert engine.cancel_run(run, actor=None) is False
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert "cancelled by the automation" in run.log
    statuses = dict(run.step_runs.values_list("order", "status"))
    assert statuses == {1: StepStatus.CANCELLED, 2: StepStatus.CANCELLED}
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    cancel_event = events[-1]
    assert cancel_event["kind"] == "run.cancelled"
    assert cancel_event["details"] == {"steps_cancelled": 2, "tasks_withdrawn": 1}


def test_cancelled_run_starts_no_further_step(queue, make_playbook):
    playbook = make_playbook(
        steps=[{"action": "test.record"}, {"action": "test.record"}]
    )
    run = start(queue, playbook)
    first = queue.queued.pop()

    engine.cancel_run(run, actor=None)
    queue.call(engine.run_step, first)

    assert CALLS == []


def _make_running(queue, make_playbook, action, now):
    """Start a run whose step was claimed by a worker that then died."""
    run = start(queue, make_playbook(steps=[{"action": action, "timeout_seconds": 60}]))
    step_run = run.step_runs.get()
    assert engine._claim(step_run, max(now, step_run.not_before))
    queue.queued.clear()
    return step_run


def test_watchdog_requeues_lost_idempotent_step(
    queue, make_playbook, now, time_machine
):
    step_run = _make_running(queue, make_playbook, "test.record", now)

    early = engine.recover_lost_steps(now + dt.timedelta(seconds=30))
    time_machine.move_to(now + dt.timedelta(seconds=61))
    counts = queue.call(engine.recover_lost_steps, timezone.now())

    assert early == {"requeued": 0, "failed": 0}
    assert counts == {"requeued": 1, "failed": 0}
    assert queue.queued == [step_run.pk]
    queue.drain()
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.SUCCEEDED
    assert step_run.attempts == 2
    assert "worker lost; queued again" in step_run.log


def test_watchdog_fails_lost_non_idempotent_step(queue, make_playbook, now):
    step_run = _make_running(queue, make_playbook, "test.once", now)

    counts = queue.call(engine.recover_lost_steps, now + dt.timedelta(minutes=5))

    assert counts == {"requeued": 0, "failed": 1}
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.FAILED
    assert step_run.error == "worker lost; not retried so that it cannot run twice"
    assert queue.queued == []
    assert CALLS == []


def test_watchdog_leaves_approval_wait_alone(queue, make_playbook, approvals, now):
    run = start(
        queue, make_playbook(steps=[{"action": "test.risky", "timeout_seconds": 60}])
    )
    queue.drain()

    counts = engine.recover_lost_steps(now + dt.timedelta(hours=9))
    swept = engine.sweep_due(now + dt.timedelta(hours=9))

    assert counts == {"requeued": 0, "failed": 0}
    assert swept["queued"] == 0
    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.WAITING
    run.refresh_from_db()
    assert run.status == RunStatus.WAITING


def test_late_outcome_after_watchdog_is_dropped(queue, make_playbook, now):
    step_run = _make_running(queue, make_playbook, "test.once", now)
    queue.call(engine.recover_lost_steps, now + dt.timedelta(minutes=5))

    late = engine.Outcome("succeeded", result={"late": True})
    queue.call(engine.record_outcome, step_run.pk, 1, late, now)

    step_run.refresh_from_db()
    assert step_run.status == StepStatus.FAILED
    assert step_run.result is None


def test_sweep_due_requeues_forgotten_step(queue, make_playbook, now):
    run = start(queue, make_playbook(), now=now)
    queue.queued.clear()

    soon = engine.sweep_due(now + dt.timedelta(seconds=30))
    later = engine.sweep_due(now + dt.timedelta(minutes=3))

    assert soon["queued"] == 0
    assert later["queued"] == 1
    assert queue.queued == [run.step_runs.get().pk]


def test_cooldown_blocks_automatic_runs(queue, make_playbook, endpoint, now):
    playbook = make_playbook(cooldown_minutes=60, max_concurrent_runs=0)
    start(queue, playbook, endpoint=endpoint, trigger=RunTrigger.DETECTION, now=now)

    with pytest.raises(engine.RunNotStarted, match="60-minute cooldown"):
        start(
            queue,
            playbook,
            endpoint=endpoint,
            trigger=RunTrigger.DETECTION,
            now=now + dt.timedelta(minutes=59),
        )
    later = start(
        queue,
        playbook,
        endpoint=endpoint,
        trigger=RunTrigger.DETECTION,
        now=now + dt.timedelta(minutes=61),
    )
    assert later.pk


def test_cooldown_is_per_target(queue, make_playbook, make_endpoint, now):
    playbook = make_playbook(cooldown_minutes=60, max_concurrent_runs=0)
    start(queue, playbook, endpoint=make_endpoint(), trigger="detection", now=now)

    other = start(
        queue, playbook, endpoint=make_endpoint(), trigger="detection", now=now
    )

    assert other.pk


def test_max_concurrent_runs_per_target(queue, make_playbook, endpoint, make_endpoint):
    playbook = make_playbook(max_concurrent_runs=1)
    start(queue, playbook, endpoint=endpoint)

    with pytest.raises(engine.RunNotStarted, match="1 unfinished runs"):
        start(queue, playbook, endpoint=endpoint)
    assert start(queue, playbook, endpoint=make_endpoint()).pk


def test_dedup_key_starts_once(queue, make_playbook, endpoint):
    playbook = make_playbook(max_concurrent_runs=0)
    start(queue, playbook, endpoint=endpoint, dedup_key="detection:1:playbook:1")

    with pytest.raises(engine.RunNotStarted, match="already ran"):
        start(queue, playbook, endpoint=endpoint, dedup_key="detection:1:playbook:1")
    assert PlaybookRun.objects.count() == 1


def test_version_increments_on_changes(make_playbook):
    playbook = make_playbook(steps=[{"action": "test.record"}])
    created = playbook.version

    playbook.description = "changed"
    playbook.save()
    unchanged_save = playbook.version
    playbook.save()
    step = playbook.steps.get()
    step.parameters = {"note": "x"}
    step.save()
    playbook.refresh_from_db()

    assert unchanged_save == created + 1
    assert playbook.version == created + 2


def test_system_user_exists_and_cannot_log_in():
    user = engine.system_user()

    assert user.username == "exec-automation"
    assert not user.is_active
    assert not user.has_usable_password()


def test_two_workers_claim_one_step(
    postgres_only, transactional_db, make_playbook, monkeypatch
):
    queued = []
    monkeypatch.setattr(engine, "enqueue_step", queued.append)
    run = engine.start_run(make_playbook(), trigger="manual", now=timezone.now())
    step_run = run.step_runs.get()
    barrier = threading.Barrier(8)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(engine._claim(step_run, timezone.now()))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]
    step_run.refresh_from_db()
    assert step_run.attempts == 1


def test_describe_step_renders_parameters(queue, make_playbook, endpoint, approvals):
    playbook = make_playbook(
        steps=[
            {
                "action": "notify.email",
                "requires_approval": True,
                "parameters": {
                    "recipients": ["soc@example.com"],
                    "subject": "{{ endpoint.hostname }} quarantined",
                    "body": "",
                },
            }
        ]
    )
    run = start(queue, playbook, endpoint=endpoint)
    queue.drain()

    sentence = engine.describe_step(run.step_runs.get(), timezone.now())

    assert sentence == "Send the mail 'ws-042 quarantined' to soc@example.com"


def test_cancel_while_step_executes_withdraws_task(queue, make_playbook, endpoint):
    playbook = make_playbook(
        steps=[{"action": "endpoint.collect_file", "parameters": {"path": "/tmp/x"}}]
    )
    run = start(queue, playbook, endpoint=endpoint)
    step_run = run.step_runs.get()
    assert engine._claim(step_run, timezone.now())
    step_run.refresh_from_db()
    queue.queued.clear()

    engine.cancel_run(run, actor=None)
    outcome = engine.execute_claimed(
        step_run, engine.get_action(step_run.action), timezone.now()
    )
    queue.call(engine.record_outcome, step_run.pk, 1, outcome, timezone.now())

    assert outcome.kind == "wait_task"
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.CANCELLED
    assert AgentTask.objects.get().status == TaskStatus.CANCELLED
    assert queue.queued == []


def test_sweeps_query_count_constant(
    queue, make_playbook, make_endpoint, django_assert_num_queries, now
):
    playbook = make_playbook(max_concurrent_runs=0)
    for _ in range(20):
        start(queue, playbook, endpoint=make_endpoint(), now=now)

    # One query for due steps and one for steps waiting on agent tasks; the
    # 20 runs were just queued, so none is late yet.
    with django_assert_num_queries(2):
        engine.sweep_due(now)
    with django_assert_num_queries(1):
        engine.recover_lost_steps(now)
