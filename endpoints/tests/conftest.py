"""Fixtures for the endpoints tests: endpoints with agent tokens, clients, events."""

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from endpoints.models import AgentTask, Endpoint, hash_token, new_token
from endpoints.signals import agent_task_finished, status_changed
from exec_site.events import event_recorded


@pytest.fixture
def now() -> datetime:
    return timezone.now().replace(microsecond=250_000)


@pytest.fixture
def make_endpoint(now) -> Callable[..., tuple[Endpoint, str]]:
    """Create an agent endpoint; returns it with its clear agent token."""
    counter = iter(range(1, 1_000_000))

    def make(**fields: Any) -> tuple[Endpoint, str]:
        number = next(counter)
        token = new_token("agt")
        values = {
            "hostname": f"host-{number}",
            "platform": "linux",
            "machine_id": f"machine-{number}",
            "source_id": f"machine-{number}",
            "status": "online",
            "last_seen": now,
            "agent_token_hash": hash_token(token),
            **fields,
        }
        return Endpoint.objects.create(**values), token

    return make


@pytest.fixture
def endpoint_and_token(make_endpoint) -> tuple[Endpoint, str]:
    return make_endpoint()


@pytest.fixture
def endpoint(endpoint_and_token) -> Endpoint:
    return endpoint_and_token[0]


def agent_client(token: str | None) -> APIClient:
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def agent(endpoint_and_token) -> APIClient:
    """An API client holding the `endpoint` fixture's agent token."""
    return agent_client(endpoint_and_token[1])


@pytest.fixture
def make_task(now) -> Callable[..., AgentTask]:
    def make(endpoint: Endpoint, **fields: Any) -> AgentTask:
        values = {
            "type": "collect_forensics",
            "parameters": {"artifacts": ["processes"]},
            "expires": now + timedelta(hours=1),
            **fields,
        }
        return AgentTask.objects.create(endpoint=endpoint, **values)

    return make


class Recorder:
    """Collects what a signal sent, as a list of its keyword arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        kwargs.pop("signal", None)
        self.calls.append(kwargs)

    def kinds(self) -> list[str]:
        return [call["kind"] for call in self.calls]


def _recording(signal: Any) -> Iterator[Recorder]:
    recorder = Recorder()
    signal.connect(recorder, weak=False)
    try:
        yield recorder
    finally:
        signal.disconnect(recorder)


@pytest.fixture
def audit_events() -> Iterator[Recorder]:
    yield from _recording(event_recorded)


@pytest.fixture
def status_signals() -> Iterator[Recorder]:
    yield from _recording(status_changed)


@pytest.fixture
def task_signals() -> Iterator[Recorder]:
    yield from _recording(agent_task_finished)
