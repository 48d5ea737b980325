"""Fixtures of the playbook tests: endpoints, playbooks and a step queue."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from endpoints.models import Endpoint, EndpointUser
from playbooks import engine, hooks
from playbooks.actions import (
    Action,
    ActionContext,
    PermanentError,
    TransientError,
    register,
)
from playbooks.models import Playbook, Step

# Calls of the test actions, in order: (action name, step run id, parameters).
CALLS: list[tuple[str, int, dict[str, Any]]] = []


@register
class RecordAction(Action):
    """Record the call and succeed; safe to run twice."""

    name = "test.record"
    label = "Record the call"
    idempotent = True
    parameters_schema = {
        "type": "object",
        "properties": {"note": {"type": "string"}},
        "additionalProperties": False,
    }

    def execute(self, context: ActionContext) -> dict[str, Any]:
        CALLS.append((self.name, context.step_run.pk, context.parameters))
        return {
            "note": context.parameters.get("note", ""),
            "approval": context.approval,
        }


@register
class OnceAction(RecordAction):
    """Like test.record, but not safe to run twice."""

    name = "test.once"
    idempotent = False


@register
class FlakyAction(Action):
    """Fail transiently until `succeed_on` attempts, then succeed."""

    name = "test.flaky"
    label = "Fail, then succeed"
    parameters_schema = {
        "type": "object",
        "properties": {"succeed_on": {"type": "integer"}},
        "additionalProperties": False,
    }

    def execute(self, context: ActionContext) -> dict[str, Any]:
        CALLS.append((self.name, context.step_run.pk, context.parameters))
        if context.step_run.attempts < context.parameters.get("succeed_on", 99):
            raise TransientError(
                f"vendor returned 503 on attempt {context.step_run.attempts}"
            )
        return {"attempts": context.step_run.attempts}


@register
class FailAction(Action):
    name = "test.fail"
    label = "Fail for good"

    def execute(self, context: ActionContext) -> dict[str, Any]:
        CALLS.append((self.name, context.step_run.pk, context.parameters))
        raise PermanentError("the account does not exist")


@register
class RiskyAction(RecordAction):
    """An action that always requires approval."""

    name = "test.risky"
    requires_approval = True


def detection_document(external_id: str, **fields: Any) -> dict[str, Any]:
    """Return a generic detection with Exec's field names.

    `id` and `timestamp` repeat `external_id` and `occurred` for the
    generic-only stand-in normalizer, which reads those two names.
    """
    document = {
        "external_id": external_id,
        "id": external_id,
        "title": "Credential dumping",
        "severity": "high",
        "occurred": "2026-12-01T10:00:00Z",
        "timestamp": "2026-12-01T10:00:00Z",
        "hostname": "ws-042",
        "username": "CORP\\jdoe",
    }
    return document | fields


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


@pytest.fixture
def now() -> dt.datetime:
    return timezone.now()


@pytest.fixture
def make_endpoint() -> Callable[..., Endpoint]:
    counter = iter(range(1, 10_000))

    def make(**fields: Any) -> Endpoint:
        number = next(counter)
        values = {
            "hostname": f"host{number}",
            "platform": "linux",
            "source_id": f"agent-{number}",
            "last_seen": timezone.now(),
        } | fields
        return Endpoint.objects.create(**values)

    return make


@pytest.fixture
def endpoint(make_endpoint: Callable[..., Endpoint]) -> Endpoint:
    return make_endpoint(hostname="ws-042", fqdn="ws-042.corp.example.com")


@pytest.fixture
def endpoint_user(endpoint: Endpoint) -> EndpointUser:
    return EndpointUser.objects.create(
        endpoint=endpoint, username="CORP\\jdoe", domain="CORP", name="jdoe"
    )


@pytest.fixture
def make_playbook() -> Callable[..., Playbook]:
    def make(steps: list[dict[str, Any]] | None = None, **fields: Any) -> Playbook:
        values = {"name": f"Playbook {Playbook.objects.count() + 1}"} | fields
        playbook = Playbook.objects.create(**values)
        for order, step in enumerate(steps or [{"action": "test.record"}], start=1):
            Step.objects.create(playbook=playbook, order=order, **step)
        playbook.refresh_from_db()
        return playbook

    return make


class StepQueue:
    """Stands in for the task cluster: records queued steps and runs them."""

    def __init__(self, capture: Any) -> None:
        self.capture = capture
        self.queued: list[int] = []
        self.scheduled: list[tuple[int, dt.datetime]] = []

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call `function` and then run the on-commit callbacks it registered."""
        with self.capture(execute=True):
            return function(*args, **kwargs)

    def drain(self, limit: int = 100) -> int:
        """Run queued steps until none is left; return how many ran."""
        ran = 0
        while self.queued and ran < limit:
            self.call(engine.run_step, self.queued.pop(0))
            ran += 1
        return ran


@pytest.fixture
def queue(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> StepQueue:
    steps = StepQueue(django_capture_on_commit_callbacks)
    monkeypatch.setattr(engine, "enqueue_step", steps.queued.append)
    monkeypatch.setattr(
        engine, "schedule_step", lambda pk, when: steps.scheduled.append((pk, when))
    )
    return steps


@pytest.fixture
def approvals(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Register a fake approval requester; yields the step runs it was asked for."""
    asked: list[Any] = []
    monkeypatch.setattr(hooks, "_approval_requester", asked.append)
    monkeypatch.setattr(hooks, "_approval_loader", None)
    return asked
