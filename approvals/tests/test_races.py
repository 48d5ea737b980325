"""Concurrent decisions and expiry on PostgreSQL: one outcome, one resume."""

import datetime as dt
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from approvals import actions
from approvals.actions import decide_approval
from approvals.choices import ApprovalStatus
from approvals.errors import RequestClosed
from approvals.models import ApprovalRequest
from playbooks import engine
from playbooks.choices import RunStatus, RunTrigger, StepStatus
from playbooks.models import Playbook

ROUNDS = 5


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Record queued steps and the resumes that took effect."""
    calls: dict[str, list[Any]] = {"queued": [], "resumed": []}
    resume = engine.resume_after_approval

    def counting_resume(step_run_id: int, **kwargs: Any) -> bool:
        took_effect = resume(step_run_id, **kwargs)
        if took_effect:
            calls["resumed"].append((step_run_id, kwargs["approved"]))
        return took_effect

    monkeypatch.setattr(engine, "enqueue_step", calls["queued"].append)
    monkeypatch.setattr(engine, "resume_after_approval", counting_resume)
    return calls


def waiting_request(
    playbook: Playbook, endpoint_user: Any, initiator: Any
) -> ApprovalRequest:
    run = engine.start_run(
        playbook,
        trigger=RunTrigger.MANUAL,
        now=timezone.now(),
        endpoint_user=endpoint_user,
        started_by=initiator,
    )
    step_run = run.step_runs.get()
    engine.run_step(step_run.pk)
    return ApprovalRequest.objects.get(step_run=step_run)


def race(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run the calls in threads released together; return ("ok"|"error", value)."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("error", None)] * len(calls)

    def worker(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = ("ok", call())
        except Exception as error:
            results[index] = ("error", error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(index, call))
        for index, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_race_two_approvers_one_outcome(
    postgres_only,
    engine_calls,
    playbook,
    endpoint_user,
    initiator,
    approver,
    second_approver,
):
    Playbook.objects.filter(pk=playbook.pk).update(max_concurrent_runs=0)

    for _ in range(ROUNDS):
        request = waiting_request(playbook, endpoint_user, initiator)
        engine_calls["queued"].clear()
        engine_calls["resumed"].clear()

        results = race(
            partial(
                decide_approval,
                request,
                actor=approver,
                approved=True,
                option_id="acct-1",
            ),
            partial(
                decide_approval,
                request,
                actor=second_approver,
                approved=True,
                option_id="acct-2",
            ),
        )

        outcomes = [kind for kind, _ in results]
        assert sorted(outcomes) == ["error", "ok"]
        loser = next(value for kind, value in results if kind == "error")
        assert isinstance(loser, RequestClosed)
        request.refresh_from_db()
        winner = request.decisions.get().actor.username
        assert str(loser).startswith(f"already approved by {winner} at ")
        assert request.status == ApprovalStatus.APPROVED
        assert engine_calls["resumed"] == [(request.step_run_id, True)]
        assert engine_calls["queued"] == [request.step_run_id]


@pytest.mark.django_db(transaction=True)
def test_race_approve_against_expiry(
    postgres_only, engine_calls, playbook, endpoint_user, initiator, approver
):
    Playbook.objects.filter(pk=playbook.pk).update(max_concurrent_runs=0)
    seen = set()

    for _ in range(ROUNDS):
        request = waiting_request(playbook, endpoint_user, initiator)
        expires = timezone.now() + dt.timedelta(seconds=5)
        ApprovalRequest.objects.filter(pk=request.pk).update(expires=expires)
        engine_calls["resumed"].clear()

        decision, swept = race(
            partial(
                decide_approval,
                request,
                actor=approver,
                approved=True,
                option_id="acct-1",
            ),
            partial(actions.sweep, expires + dt.timedelta(seconds=1)),
        )

        request.refresh_from_db()
        seen.add(request.status)
        assert swept[0] == "ok"
        step_run = request.step_run
        step_run.refresh_from_db()
        if request.status == ApprovalStatus.APPROVED:
            assert decision[0] == "ok"
            assert swept[1]["expired"] == 0
            assert engine_calls["resumed"] == [(step_run.pk, True)]
            assert step_run.status == StepStatus.PENDING
        else:
            assert request.status == ApprovalStatus.EXPIRED
            assert decision[0] == "error"
            assert str(decision[1]).startswith("expired at ")
            assert swept[1]["expired"] == 1
            assert engine_calls["resumed"] == [(step_run.pk, False)]
            assert step_run.status == StepStatus.FAILED
            assert step_run.run.status == RunStatus.FAILED
            assert request.decisions.count() == 0
    assert seen <= {ApprovalStatus.APPROVED, ApprovalStatus.EXPIRED}
