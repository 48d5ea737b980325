"""Fixtures of the approval tests: a test action with options, users and runs."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from guardian.shortcuts import assign_perm

from approvals import notify
from approvals.models import ApprovalRequest
from endpoints.models import Endpoint, EndpointUser
from exec_site.events import event_recorded
from playbooks import engine
from playbooks.actions import Action, ActionContext, register
from playbooks.choices import RunTrigger
from playbooks.models import Playbook, PlaybookRun, Step

# Calls of the test action: (step run id, parameters, chosen option).
EXECUTED: list[tuple[int, dict[str, Any], Any]] = []


@register
class ChooseAccountAction(Action):
    """Suspend an account that the approver picks from two candidates."""

    name = "test.suspend_account"
    label = "Suspend an account"
    requires_approval = True
    parameters_schema = {
        "type": "object",
        "properties": {"login": {"type": "string"}},
        "additionalProperties": False,
    }

    def describe(self, context: ActionContext) -> str:
        return f"Suspend account {context.parameters.get('login', '?')}"

    def approval_options(self, context: ActionContext) -> list[dict[str, Any]]:
        login = context.parameters.get("login", "jdoe")
        return [
            {
                "id": "acct-1",
                "label": f"{login}@corp.example.com",
                "login": f"{login}@corp.example.com",
                "score": 0.92,
                "reasons": ["same login", "same display name"],
            },
            {
                "id": "acct-2",
                "label": f"{login}.admin@corp.example.com",
                "login": f"{login}.admin@corp.example.com",
                "score": 0.61,
                "reasons": ["same login prefix"],
            },
        ]

    def execute(self, context: ActionContext) -> dict[str, Any]:
        chosen = context.approval.chosen_option
        EXECUTED.append((context.step_run.pk, context.parameters, chosen))
        return {"suspended": chosen["login"]}


@register
class BrokenOptionsAction(ChooseAccountAction):
    """Fail to describe itself and to list its options, as a vendor outage would."""

    name = "test.broken_options"

    def describe(self, context: ActionContext) -> str:
        raise KeyError("display_name")

    def approval_options(self, context: ActionContext) -> list[dict[str, Any]]:
        raise ConnectionError("identity provider timed out")


@pytest.fixture(autouse=True)
def _clear_executed() -> None:
    EXECUTED.clear()


@pytest.fixture(autouse=True)
def _no_task_queue(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Send notices in-process instead of through the task cluster."""
    sent: list[tuple[int, str]] = []

    def enqueue(request_id: int, kind: str) -> None:
        sent.append((request_id, kind))
        notify.deliver(request_id, kind)

    monkeypatch.setattr(notify, "enqueue", enqueue)
    return sent


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    recorded: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        recorded.append(kwargs)

    event_recorded.connect(receiver, dispatch_uid="test-approvals-events")
    yield recorded
    event_recorded.disconnect(dispatch_uid="test-approvals-events")


class StepQueue:
    """Stands in for the task cluster: records queued steps and runs them."""

    def __init__(self, capture: Any) -> None:
        self.capture = capture
        self.queued: list[int] = []

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call `function`, then run the on-commit callbacks it registered."""
        with self.capture(execute=True):
            return function(*args, **kwargs)

    def drain(self, limit: int = 50) -> int:
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
    monkeypatch.setattr(engine, "schedule_step", lambda pk, when: None)
    return steps


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint.objects.create(
        hostname="ws-042", platform="linux", source_id="agent-42"
    )


@pytest.fixture
def endpoint_user(endpoint: Endpoint) -> EndpointUser:
    return EndpointUser.objects.create(
        endpoint=endpoint, username="CORP\\jdoe", domain="CORP", name="jdoe"
    )


def make_playbook(name: str, steps: list[dict[str, Any]] | None = None) -> Playbook:
    playbook = Playbook.objects.create(name=name, target_kind="user")
    default = [
        {
            "action": "test.suspend_account",
            "parameters": {"login": "{{ user.name }}"},
        }
    ]
    for order, step in enumerate(steps or default, start=1):
        Step.objects.create(playbook=playbook, order=order, **step)
    playbook.refresh_from_db()
    return playbook


@pytest.fixture
def playbook() -> Playbook:
    return make_playbook("Suspend a compromised account")


@pytest.fixture
def other_playbook() -> Playbook:
    return make_playbook("Isolate a server")


def _user(username: str, *groups: str) -> User:
    user = User.objects.create_user(
        username, email=f"{username}@corp.example.com", password="x"
    )
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def initiator() -> User:
    """A responder who is also an approver: only starting the run stops them."""
    return _user("ivan", "Responders", "Approvers")


@pytest.fixture
def approver() -> User:
    return _user("alice", "Approvers")


@pytest.fixture
def second_approver() -> User:
    return _user("bob", "Approvers")


@pytest.fixture
def other_approver(other_playbook: Playbook) -> User:
    """May approve the other playbook only, through a guardian object permission."""
    user = _user("olga")
    assign_perm("playbooks.approve_playbook", user, other_playbook)
    return user


@pytest.fixture
def auditor() -> User:
    return _user("audrey", "Auditors")


def start_waiting_run(
    queue: StepQueue,
    playbook: Playbook,
    endpoint_user: EndpointUser,
    started_by: User | None = None,
) -> tuple[PlaybookRun, ApprovalRequest]:
    """Start a run that waits on its first step's approval; return both."""
    run = queue.call(
        engine.start_run,
        playbook,
        trigger=RunTrigger.MANUAL,
        now=engine.timezone.now(),
        endpoint_user=endpoint_user,
        started_by=started_by,
    )
    queue.drain()
    return run, ApprovalRequest.objects.get(run=run)


@pytest.fixture
def waiting(
    queue: StepQueue,
    playbook: Playbook,
    endpoint_user: EndpointUser,
    initiator: User,
) -> tuple[PlaybookRun, ApprovalRequest]:
    mail.outbox.clear()
    return start_waiting_run(queue, playbook, endpoint_user, initiator)


@pytest.fixture
def make_endpoint_user() -> Callable[[str], EndpointUser]:
    def make(hostname: str) -> EndpointUser:
        endpoint = Endpoint.objects.create(
            hostname=hostname, platform="linux", source_id=f"agent-{hostname}"
        )
        return EndpointUser.objects.create(
            endpoint=endpoint, username="CORP\\jdoe", domain="CORP", name="jdoe"
        )

    return make


@pytest.fixture
def users(
    approver: User, other_approver: User, initiator: User, auditor: User
) -> dict[str, User | None]:
    """The permission matrix's users by role; anonymous is None."""
    return {
        "approver": approver,
        "other_approver": other_approver,
        "initiator": initiator,
        "auditor": auditor,
        "anonymous": None,
    }
