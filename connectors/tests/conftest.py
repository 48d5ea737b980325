"""Fixtures for the connector tests: Okta clients whose sleeps are recorded."""

import json
import threading
from typing import Any

import pytest

from connectors.http import HttpClient, RateLimitStyle, StaticAuth
from connectors.okta import OktaClient


class RecordingSleep:
    """Stands in for time.sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class FakeTime:
    """A clock that only `sleep` moves, shared by threads, clients and fake Okta."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self.now += seconds


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def okta_client(okta_server, sleeps) -> OktaClient:
    http = HttpClient(
        okta_server.base_url,
        label="okta test",
        style=RateLimitStyle.OKTA,
        auth=StaticAuth(f"SSWS {okta_server.api_token}"),
        sleep=sleeps,
    )
    return OktaClient(http)


def json_body(request: dict[str, Any]) -> Any:
    return json.loads(request["body"])
