"""Fixtures of the forensics tests: private storage, an endpoint with a task, events."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from endpoints.models import AgentTask, Endpoint, hash_token
from exec_site.events import event_recorded

AGENT_TOKEN = "agt_forensics-test-token"
OTHER_TOKEN = "agt_other-endpoint-token"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    """Keep every stored zip of a test in its own folder."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    return root


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def make_endpoint(hostname: str, token: str | None = None, **fields) -> Endpoint:
    return Endpoint.objects.create(
        hostname=hostname,
        platform="linux",
        source_id=f"machine-{hostname}",
        agent_token_hash=hash_token(token) if token else None,
        **fields,
    )


def make_task(endpoint: Endpoint, task_type: str = "collect_forensics", **fields):
    return AgentTask.objects.create(
        endpoint=endpoint,
        type=task_type,
        status=fields.pop("status", "running"),
        expires=timezone.now() + timedelta(hours=1),
        **fields,
    )


@pytest.fixture
def endpoint(db) -> Endpoint:
    return make_endpoint("web01", AGENT_TOKEN)


@pytest.fixture
def other_endpoint(db) -> Endpoint:
    return make_endpoint("db02", OTHER_TOKEN)


@pytest.fixture
def task(endpoint) -> AgentTask:
    return make_task(endpoint)


@pytest.fixture
def events():
    """Collect every event recorded during the test, as keyword dicts."""
    recorded = []

    def receiver(sender, **kwargs):
        recorded.append(kwargs)

    event_recorded.connect(receiver, weak=False)
    yield recorded
    event_recorded.disconnect(receiver)


def user_in(role: str | None, username: str) -> User:
    user = User.objects.create_user(username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def responder(db) -> User:
    return user_in("Responders", "responder")


@pytest.fixture
def auditor(db) -> User:
    return user_in("Auditors", "auditor")


@pytest.fixture
def outsider(db) -> User:
    """A user of another role, who may not see forensics data."""
    return user_in("Approvers", "approver")
