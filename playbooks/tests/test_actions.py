import datetime as dt
import importlib.util

import pytest
from django.core import mail
from django.utils import timezone

from endpoints.choices import TaskStatus
from endpoints.models import AgentTask, Tag
from endpoints.signals import agent_task_finished
from playbooks import engine
from playbooks.choices import RunStatus, StepStatus, WaitingFor
from playbooks.validation import step_errors

pytestmark = pytest.mark.django_db


def start(queue, playbook, **kwargs):
    return queue.call(
        engine.start_run, playbook, trigger="manual", now=timezone.now(), **kwargs
    )


def finish_task(task, status, *, error="", result=None):
    """Report a task's result the way the agent API does, then signal it."""
    task.status = status
    task.error = error
    task.result = result
    task.completed = timezone.now()
    task.save()
    agent_task_finished.send(sender=AgentTask, task=task)


def test_notify_email_sends_rendered_mail(queue, make_playbook, endpoint):
    playbook = make_playbook(
        steps=[
            {
                "action": "notify.email",
                "parameters": {
                    "recipients": ["soc@example.com"],
                    "subject": "{{ endpoint.hostname }} is back",
                    "body": "Run {{ run.id }} of {{ playbook.name }}",
                },
            }
        ]
    )
    run = start(queue, playbook, endpoint=endpoint)

    queue.drain()

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "ws-042 is back"
    assert mail.outbox[0].to == ["soc@example.com"]
    assert mail.outbox[0].body == f"Run {run.pk} of {playbook.name}"
    step_run = run.step_runs.get()
    assert step_run.result == {"sent": 1, "recipients": ["soc@example.com"]}


def test_add_and_remove_tag(queue, make_playbook, endpoint):
    playbook = make_playbook(
        steps=[
            {"action": "endpoint.add_tag", "parameters": {"tag": "investigate"}},
            {"action": "endpoint.remove_tag", "parameters": {"tag": "investigate"}},
            {"action": "endpoint.remove_tag", "parameters": {"tag": "absent"}},
        ]
    )
    run = start(queue, playbook, endpoint=endpoint)

    queue.call(engine.run_step, queue.queued.pop(0))
    tagged = list(endpoint.tags.values_list("name", flat=True))
    queue.drain()

    assert tagged == ["investigate"]
    assert endpoint.tags.count() == 0
    assert Tag.objects.filter(name="investigate").exists()
    results = [s.result for s in run.step_runs.order_by("order")]
    assert results[1] == {"tag": "investigate", "removed": True}
    assert results[2] == {"tag": "absent", "removed": False}


def test_tag_without_endpoint_fails(queue, make_playbook):
    playbook = make_playbook(
        steps=[{"action": "endpoint.add_tag", "parameters": {"tag": "x"}}]
    )
    run = start(queue, playbook)

    queue.drain()

    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.FAILED
    assert step_run.error == "this step needs an endpoint, and the run has none"


def _collect(queue, make_playbook, endpoint, hours=24):
    playbook = make_playbook(
        steps=[
            {
                "action": "endpoint.collect_forensics",
                "parameters": {"artifacts": ["processes"], "expires_hours": hours},
            },
            {"action": "test.record"},
        ]
    )
    run = start(queue, playbook, endpoint=endpoint)
    queue.drain()
    return run, run.step_runs.get(order=1), AgentTask.objects.get()


def test_collect_forensics_waits_then_succeeds(queue, make_playbook, endpoint):
    run, step_run, task = _collect(queue, make_playbook, endpoint)

    assert task.type == "collect_forensics"
    assert task.parameters == {"artifacts": ["processes"], "run_id": run.pk}
    assert task.expires - task.created == dt.timedelta(hours=24)
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.WAITING
    assert step_run.waiting_for == WaitingFor.AGENT_TASK
    run.refresh_from_db()
    assert run.status == RunStatus.WAITING

    queue.call(finish_task, task, TaskStatus.SUCCEEDED, result={"package": 9})
    queue.drain()

    step_run.refresh_from_db()
    assert step_run.status == StepStatus.SUCCEEDED
    assert step_run.result == {"agent_task": task.pk, "result": {"package": 9}}
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_collect_file_fails_with_task_error(queue, make_playbook, endpoint):
    playbook = make_playbook(
        steps=[{"action": "endpoint.collect_file", "parameters": {"path": "/etc/x"}}]
    )
    run = start(queue, playbook, endpoint=endpoint)
    queue.drain()
    task = AgentTask.objects.get()
    assert task.type == "collect_file"

    queue.call(finish_task, task, TaskStatus.FAILED, error="file not found: /etc/x")
    queue.drain()

    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.FAILED
    assert step_run.error == f"agent task {task.pk} failed: file not found: /etc/x"


def test_collect_task_expires_before_checkin(
    queue, make_playbook, endpoint, time_machine
):
    run, step_run, task = _collect(queue, make_playbook, endpoint, hours=1)

    early = queue.call(engine.sweep_due, timezone.now() + dt.timedelta(minutes=59))
    time_machine.move_to(timezone.now() + dt.timedelta(hours=1, minutes=1))
    late = queue.call(engine.sweep_due, timezone.now())
    queue.drain()

    assert early["tasks_expired"] == 0
    assert late["tasks_expired"] == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.EXPIRED
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.FAILED
    assert step_run.error == (
        f"agent task {task.pk} expired: expired before the endpoint checked in"
    )
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


def test_collect_task_times_out_after_delivery(
    queue, make_playbook, endpoint, settings
):
    from endpoints.sweep import sweep

    settings.EXEC_AGENT_TASK_TIMEOUT = 600
    run, step_run, task = _collect(queue, make_playbook, endpoint)
    delivered = timezone.now() - dt.timedelta(minutes=11)
    AgentTask.objects.filter(pk=task.pk).update(status=TaskStatus.SENT, sent=delivered)

    queue.call(sweep, timezone.now())
    queue.drain()

    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.FAILED
    assert step_run.error.startswith(
        f"agent task {task.pk} failed: timed out: no result 600 s after"
    )
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


def test_collect_task_cancelled_by_operator(queue, make_playbook, endpoint):
    from django.contrib.auth.models import User

    from endpoints.actions import cancel_agent_task

    operator = User.objects.create_user("operator")
    run, step_run, task = _collect(queue, make_playbook, endpoint)

    queue.call(cancel_agent_task, task, actor=operator, now=timezone.now())
    queue.drain()

    step_run.refresh_from_db()
    assert step_run.status == StepStatus.FAILED
    assert step_run.error == (
        f"agent task {task.pk} cancelled: cancelled by operator before delivery"
    )
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


def test_wait_resumes_through_timer(queue, make_playbook, time_machine):
    playbook = make_playbook(
        steps=[
            {"action": "wait", "parameters": {"minutes": 30}},
            {"action": "test.record"},
        ]
    )
    time_machine.move_to(timezone.now(), tick=False)
    run = start(queue, playbook)
    queue.drain()

    step_run = run.step_runs.get(order=1)
    assert step_run.status == StepStatus.WAITING
    assert step_run.waiting_for == WaitingFor.TIME
    ((scheduled_id, due),) = queue.scheduled
    assert scheduled_id == step_run.pk
    assert due == timezone.now() + dt.timedelta(minutes=30)

    queue.call(engine.run_step, step_run.pk)
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.WAITING

    time_machine.move_to(due)
    queue.call(engine.run_step, step_run.pk)
    queue.drain()

    step_run.refresh_from_db()
    assert step_run.status == StepStatus.SUCCEEDED
    assert step_run.result == {"waited_minutes": 30}
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


@pytest.mark.skipif(
    importlib.util.find_spec("endpoints.actions") is None,
    reason="endpoints.actions (decommission_endpoint) is not installed",
)
def test_decommission_runs_workflow(queue, make_playbook, endpoint):
    # Decommissioning refuses an endpoint seen recently, so this one went
    # silent two months ago.
    endpoint.status = "missing"
    endpoint.last_seen = timezone.now() - dt.timedelta(days=60)
    endpoint.save()
    playbook = make_playbook(
        steps=[{"action": "endpoint.decommission", "parameters": {"reason": "stolen"}}]
    )
    run = start(queue, playbook, endpoint=endpoint)

    queue.drain()

    step_run = run.step_runs.get()
    endpoint.refresh_from_db()
    assert step_run.status == StepStatus.SUCCEEDED
    assert endpoint.status == "decommissioned"


@pytest.mark.skipif(
    importlib.util.find_spec("endpoints.actions") is None,
    reason="endpoints.actions (decommission_endpoint) is not installed",
)
def test_decommission_refused_on_legal_hold(queue, make_playbook, endpoint):
    endpoint.legal_hold = True
    endpoint.status = "missing"
    endpoint.last_seen = timezone.now() - dt.timedelta(days=60)
    endpoint.save()
    playbook = make_playbook(steps=[{"action": "endpoint.decommission"}])
    run = start(queue, playbook, endpoint=endpoint)

    queue.drain()

    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.FAILED
    assert step_run.error.startswith("decommissioning was refused")


@pytest.mark.parametrize(
    ("action", "parameters", "field", "message"),
    [
        ("okta.nothing", {}, "action", "unknown action 'okta.nothing'"),
        ("wait", {}, "parameters", "'minutes' is a required property"),
        ("wait", {"minutes": 0}, "parameters", "minutes: 0 is less than"),
        (
            "notify.email",
            {"recipients": [], "subject": "s", "body": "b"},
            "parameters",
            "recipients",
        ),
        (
            "notify.email",
            {
                "recipients": ["a@example.com"],
                "subject": "{{ endpoint.colour }}",
                "body": "",
            },
            "parameters",
            "invalid template",
        ),
        (
            "notify.email",
            {"recipients": ["a@example.com"], "subject": "{{ run.id", "body": ""},
            "parameters",
            "invalid template",
        ),
    ],
)
def test_step_errors_name_field(action, parameters, field, message):
    errors = step_errors(action, parameters)

    assert list(errors) == [field]
    assert message in errors[field][0]


def test_step_errors_accept_known_variables():
    parameters = {
        "recipients": ["soc@example.com"],
        "subject": "{{ detection.title }} on {{ endpoint.hostname }}",
        "body": "{{ user.username }} {{ detection.file_path }}",
    }

    assert step_errors("notify.email", parameters) == {}


def test_sweep_resumes_step_when_signal_missed(queue, make_playbook, endpoint):
    run, step_run, task = _collect(queue, make_playbook, endpoint)
    # The result is stored but the signal never arrives (a lost process).
    task.status = TaskStatus.SUCCEEDED
    task.result = {"package": 3}
    task.save()

    counts = queue.call(engine.sweep_due, timezone.now())
    queue.drain()

    assert counts["tasks_finished"] == 1
    step_run.refresh_from_db()
    assert step_run.status == StepStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def _detection(**fields):
    from playbooks.models import Detection

    values = {
        "source": "generic",
        "external_id": "d-1",
        "title": "Suspicious binary",
        "severity": "high",
        "occurred": timezone.now(),
        "raw": {},
        "endpoint_match": "matched",
        "user_match": "not_reported",
    } | fields
    return Detection.objects.create(**values)


@pytest.mark.parametrize(
    ("file_path", "tasks"), [("", 0), ("/tmp/dropper.bin", 1)], ids=["none", "named"]
)
def test_collect_file_skips_without_path(
    queue, make_playbook, endpoint, file_path, tasks
):
    playbook = make_playbook(
        trigger_type="detection",
        steps=[
            {
                "action": "endpoint.collect_file",
                "parameters": {"path": "{{ detection.file_path }}"},
            }
        ],
    )
    detection = _detection(endpoint=endpoint, file_path=file_path)

    run = start(queue, playbook, endpoint=endpoint, detection=detection)
    queue.drain()

    step_run = run.step_runs.get()
    assert AgentTask.objects.count() == tasks
    if tasks:
        assert AgentTask.objects.get().parameters["path"] == "/tmp/dropper.bin"
        assert step_run.waiting_for == WaitingFor.AGENT_TASK
    else:
        assert step_run.status == StepStatus.SUCCEEDED
        assert step_run.result == {"skipped": "the detection names no file"}
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED


def test_notify_email_defaults_to_administrators(queue, make_playbook, endpoint):
    from django.contrib.auth.models import Group, User

    User.objects.create_superuser("root", "root@example.com", "x")
    admin = User.objects.create_user("ada", "ada@example.com")
    admin.groups.add(Group.objects.get(name="Administrators"))
    User.objects.create_user("resp", "resp@example.com")
    User.objects.create_user("gone", "gone@example.com", is_active=False)
    playbook = make_playbook(
        steps=[{"action": "notify.email", "parameters": {"subject": "s", "body": "b"}}]
    )

    run = start(queue, playbook, endpoint=endpoint)
    queue.drain()

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com", "root@example.com"]
    assert run.step_runs.get().status == StepStatus.SUCCEEDED


def test_notify_email_without_any_address_fails(queue, make_playbook, endpoint):
    from django.contrib.auth.models import User

    User.objects.create_superuser("root", "", "x")
    playbook = make_playbook(
        steps=[{"action": "notify.email", "parameters": {"subject": "s", "body": "b"}}]
    )

    run = start(queue, playbook, endpoint=endpoint)
    queue.drain()

    step_run = run.step_runs.get()
    assert mail.outbox == []
    assert step_run.status == StepStatus.FAILED
    assert "no active administrator has an email address" in step_run.error
