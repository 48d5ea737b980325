"""Asking for, deciding, expiring and cancelling approvals through the engine."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from approvals import actions
from approvals.actions import decide_approval
from approvals.choices import ApprovalStatus
from approvals.errors import DecisionNotAllowed, InvalidDecision, RequestClosed
from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.snapshot import binding_hash
from approvals.tests.conftest import EXECUTED, make_playbook, start_waiting_run
from playbooks import engine
from playbooks.choices import RunStatus, StepStatus, WaitingFor

pytestmark = pytest.mark.django_db


def decide(queue, request, **kwargs):
    """Decide inside the queue, so the resume on commit runs, then drain."""
    result = queue.call(decide_approval, request, **kwargs)
    queue.drain()
    return result


def test_request_records_what_will_happen(waiting, events):
    run, request = waiting

    assert request.status == ApprovalStatus.PENDING
    assert request.summary == "Suspend account jdoe"
    assert request.action == "test.suspend_account"
    assert request.parameters == {"login": "jdoe"}
    assert request.target == {
        "endpoint": run.endpoint_id,
        "endpoint_user": run.endpoint_user_id,
    }
    assert request.binding_hash == binding_hash(
        "test.suspend_account", {"login": "jdoe"}, request.target
    )
    assert [option["id"] for option in request.options] == ["acct-1", "acct-2"]
    assert request.context["endpoint"]["hostname"] == "ws-042"
    assert request.context["run"]["started_by"] == "ivan"
    assert request.required_approvals == 1
    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.WAITING
    assert step_run.waiting_for == WaitingFor.APPROVAL


def test_request_timeout_comes_from_step(queue, endpoint_user, initiator):
    playbook = make_playbook(
        "Short wait",
        [
            {
                "action": "test.suspend_account",
                "parameters": {"login": "jdoe"},
                "approval_timeout_minutes": 30,
            }
        ],
    )

    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    assert request.expires - request.requested == dt.timedelta(minutes=30)
    assert request.remind_at == request.expires - dt.timedelta(minutes=7.5)


def test_request_event_recorded(queue, playbook, endpoint_user, initiator, events):
    start_waiting_run(queue, playbook, endpoint_user, initiator)

    kinds = [event["kind"] for event in events]
    assert "approval.requested" in kinds
    requested = next(e for e in events if e["kind"] == "approval.requested")
    assert requested["details"]["options"] == ["acct-1", "acct-2"]


def test_approve_second_option_executes_once(queue, waiting, approver, events):
    run, request = waiting

    decide(queue, request, actor=approver, approved=True, option_id="acct-2")

    assert len(EXECUTED) == 1
    step_run_id, parameters, chosen = EXECUTED[0]
    assert step_run_id == run.step_runs.get().pk
    assert chosen["id"] == "acct-2"
    assert chosen["login"] == "jdoe.admin@corp.example.com"
    assert parameters == {"login": "jdoe"}
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    request.refresh_from_db()
    assert request.status == ApprovalStatus.APPROVED
    assert request.chosen_option["id"] == "acct-2"
    assert request.executed is not None
    decided = [e for e in events if e["kind"] == "approval.decided"]
    assert len(decided) == 1
    assert decided[0]["actor"] == approver


def test_second_approver_gets_conflict(queue, waiting, approver, second_approver):
    _, request = waiting
    decide(queue, request, actor=approver, approved=True, option_id="acct-1")

    with pytest.raises(RequestClosed) as closed:
        decide(queue, request, actor=second_approver, approved=True, option_id="acct-1")

    assert str(closed.value).startswith("already approved by alice at ")
    assert len(EXECUTED) == 1


def test_approve_needs_an_option(queue, waiting, approver):
    _, request = waiting

    with pytest.raises(InvalidDecision) as missing:
        decide(queue, request, actor=approver, approved=True)
    with pytest.raises(InvalidDecision) as unknown:
        decide(queue, request, actor=approver, approved=True, option_id="acct-9")

    assert missing.value.field == "option"
    assert "acct-1, acct-2" in str(missing.value)
    assert "unknown option 'acct-9'" in str(unknown.value)
    assert request.decisions.count() == 0
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_reject_needs_comment(queue, waiting, approver):
    _, request = waiting

    with pytest.raises(InvalidDecision) as error:
        decide(queue, request, actor=approver, approved=False, comment="  ")

    assert error.value.field == "comment"
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_reject_follows_on_failure_stop(queue, waiting, approver):
    run, request = waiting

    decide(queue, request, actor=approver, approved=False, comment="wrong person")

    request.refresh_from_db()
    assert request.status == ApprovalStatus.REJECTED
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.FAILED
    assert step_run.error == "approval rejected"
    assert EXECUTED == []


def test_reject_follows_on_failure_continue(queue, endpoint_user, initiator, approver):
    playbook = make_playbook(
        "Continue after rejection",
        [
            {
                "action": "test.suspend_account",
                "parameters": {"login": "jdoe"},
                "on_failure": "continue",
            },
            {"action": "endpoint.add_tag", "parameters": {"tag": "reviewed"}},
        ],
    )
    run, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    decide(queue, request, actor=approver, approved=False, comment="not this one")

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    statuses = list(run.step_runs.order_by("order").values_list("status", flat=True))
    assert statuses == ["failed", "succeeded"]
    assert EXECUTED == []


def test_first_rejection_ends_quorum(
    queue, playbook, endpoint_user, initiator, approver, second_approver
):
    ApprovalPolicy.objects.create(playbook=playbook, required_approvals=2)
    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    decide(queue, request, actor=approver, approved=True, option_id="acct-1")
    decide(queue, request, actor=second_approver, approved=False, comment="no")

    request.refresh_from_db()
    assert request.status == ApprovalStatus.REJECTED
    assert EXECUTED == []


def test_quorum_of_two_counts_distinct_users(
    queue, playbook, endpoint_user, initiator, approver, second_approver
):
    ApprovalPolicy.objects.create(playbook=playbook, required_approvals=2)
    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)
    assert request.required_approvals == 2

    decide(queue, request, actor=approver, approved=True, option_id="acct-2")
    with pytest.raises(RequestClosed) as repeated:
        decide(queue, request, actor=approver, approved=True, option_id="acct-2")
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    assert "you already approved" in str(repeated.value)
    assert EXECUTED == []

    decide(queue, request, actor=second_approver, approved=True, option_id="acct-2")

    request.refresh_from_db()
    assert request.status == ApprovalStatus.APPROVED
    assert len(EXECUTED) == 1
    assert EXECUTED[0][2]["id"] == "acct-2"


def test_quorum_second_approver_must_agree(
    queue, playbook, endpoint_user, initiator, approver, second_approver
):
    ApprovalPolicy.objects.create(playbook=playbook, required_approvals=2)
    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)
    decide(queue, request, actor=approver, approved=True, option_id="acct-1")

    with pytest.raises(InvalidDecision) as error:
        decide(queue, request, actor=second_approver, approved=True, option_id="acct-2")

    assert "alice approved option 'acct-1'" in str(error.value)
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_deactivated_approver_not_counted(
    queue, playbook, endpoint_user, initiator, approver, second_approver
):
    ApprovalPolicy.objects.create(playbook=playbook, required_approvals=2)
    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)
    decide(queue, request, actor=approver, approved=True, option_id="acct-1")
    approver.is_active = False
    approver.save()

    decide(queue, request, actor=second_approver, approved=True, option_id="acct-2")

    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    assert EXECUTED == []
    assert request.decisions.count() == 2


def test_deactivated_user_cannot_decide(queue, waiting, approver):
    _, request = waiting
    approver.is_active = False
    approver.save()

    with pytest.raises(DecisionNotAllowed):
        decide(queue, request, actor=approver, approved=True, option_id="acct-1")


def test_initiator_cannot_decide(queue, waiting, initiator):
    _, request = waiting

    with pytest.raises(DecisionNotAllowed) as error:
        decide(queue, request, actor=initiator, approved=True, option_id="acct-1")

    assert "you started run" in str(error.value)
    assert request.decisions.count() == 0


def test_other_playbook_approver_cannot_decide(queue, waiting, other_approver):
    _, request = waiting

    with pytest.raises(DecisionNotAllowed):
        decide(queue, request, actor=other_approver, approved=True, option_id="acct-1")


def test_object_permission_approver_can_decide(
    queue, endpoint_user, initiator, other_playbook, other_approver
):
    _, request = start_waiting_run(queue, other_playbook, endpoint_user, initiator)

    decide(queue, request, actor=other_approver, approved=True, option_id="acct-1")

    request.refresh_from_db()
    assert request.status == ApprovalStatus.APPROVED


def test_late_approval_expires_instead(
    queue, endpoint_user, initiator, approver, events
):
    playbook = make_playbook(
        "Thirty minutes",
        [
            {
                "action": "test.suspend_account",
                "parameters": {"login": "jdoe"},
                "approval_timeout_minutes": 30,
            }
        ],
    )
    run, request = start_waiting_run(queue, playbook, endpoint_user, initiator)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        requested=timezone.now() - dt.timedelta(minutes=31),
        expires=timezone.now() - dt.timedelta(minutes=1),
    )
    request.refresh_from_db()

    with pytest.raises(RequestClosed) as closed:
        decide(queue, request, actor=approver, approved=True, option_id="acct-1")

    assert (
        str(closed.value)
        == f"expired at {request.expires.isoformat(timespec='seconds')}"
    )
    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXPIRED
    assert request.decisions.count() == 0
    assert EXECUTED == []
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.step_runs.get().error == "approval expired"
    kinds = [event["kind"] for event in events]
    assert "approval.expired" in kinds
    assert "approval.decided" not in kinds


def test_sweep_expires_due_requests(queue, waiting, events):
    run, request = waiting

    counts = queue.call(actions.sweep, request.expires)
    queue.drain()

    assert counts["expired"] == 1
    request.refresh_from_db()
    assert request.status == ApprovalStatus.EXPIRED
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert queue.call(actions.sweep, request.expires)["expired"] == 0


def test_sweep_sends_one_reminder(queue, waiting, approver):
    _, request = waiting
    mail.outbox.clear()

    first = queue.call(actions.sweep, request.remind_at)
    second = queue.call(actions.sweep, request.remind_at + dt.timedelta(minutes=1))

    assert first["reminded"] == 1
    assert second["reminded"] == 0
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("[Exec] Reminder: approval expires at")


def test_cancel_run_cancels_request(queue, waiting, approver, events):
    run, request = waiting

    queue.call(engine.cancel_run, run, actor=approver)

    request.refresh_from_db()
    assert request.status == ApprovalStatus.CANCELLED
    assert "cancelled by alice" in request.closed_reason
    kinds = [event["kind"] for event in events]
    assert kinds.index("run.cancelled") < kinds.index("approval.cancelled")
    with pytest.raises(RequestClosed) as closed:
        decide(queue, request, actor=approver, approved=True, option_id="acct-1")
    assert str(closed.value).startswith("cancelled at ")
    assert EXECUTED == []


def test_sweep_cancels_request_of_stopped_step(queue, waiting):
    run, request = waiting
    # A run cancelled without the signal, as after a crash between commit
    # and the signal, leaves its request pending until the sweep.
    run.step_runs.update(status=StepStatus.CANCELLED)
    type(run).objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)

    counts = queue.call(actions.sweep, timezone.now())

    assert counts["cancelled"] == 1
    request.refresh_from_db()
    assert request.status == ApprovalStatus.CANCELLED


def test_sweep_resumes_lost_resume(queue, waiting, approver, monkeypatch):
    _, request = waiting
    resume = actions._resume_on_commit
    monkeypatch.setattr(actions, "_resume_on_commit", lambda request, approved: None)
    decide(queue, request, actor=approver, approved=True, option_id="acct-1")
    assert EXECUTED == []
    monkeypatch.setattr(actions, "_resume_on_commit", resume)

    early = queue.call(actions.sweep, timezone.now())
    counts = queue.call(actions.sweep, timezone.now() + dt.timedelta(minutes=2))
    queue.drain()

    assert early["resumed"] == 0
    assert counts["resumed"] == 1
    assert len(EXECUTED) == 1


def test_changed_parameters_block_execution(queue, waiting, approver, endpoint_user):
    run, request = waiting
    # The parameter template reads the user's name, so a rename between the
    # request and the execution changes what would run.
    endpoint_user.name = "jsmith"
    endpoint_user.save()

    decide(queue, request, actor=approver, approved=True, option_id="acct-1")

    assert EXECUTED == []
    step_run = run.step_runs.get()
    assert step_run.status == StepStatus.FAILED
    assert "changed since approval" in step_run.error


def test_step_asking_twice_fails(queue, waiting):
    run, _ = waiting
    step_run = run.step_runs.get()

    queue.call(actions.request_approval, step_run)

    step_run.refresh_from_db()
    assert step_run.status == StepStatus.FAILED
    assert "asked for approval a second time" in step_run.error
    assert ApprovalRequest.objects.filter(step_run=step_run).count() == 1


def test_request_survives_broken_options(queue, endpoint_user, initiator):
    playbook = make_playbook(
        "Broken options",
        [{"action": "test.broken_options", "parameters": {"login": "jdoe"}}],
    )

    run, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    assert request.summary == "Suspend an account with {'login': 'jdoe'}"
    assert request.options == []
    assert "identity provider timed out" in request.options_error
    assert run.step_runs.get().status == StepStatus.WAITING
