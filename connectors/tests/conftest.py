"""Fixtures for the connector tests: Okta clients and fake notification servers."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@dataclass
class FakeReceiver:
    """A fake Slack webhook or webhook receiver on 127.0.0.1.

    `replies` is consumed one per request: (status, body, headers); when it is
    empty the receiver answers `default`.
    """

    base_url: str = ""
    replies: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    default: tuple[int, str, dict[str, str]] = (200, "ok", {})
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    fake = FakeReceiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            fake.received.append(
                {"path": self.path, "headers": dict(self.headers), "body": body}
            )
            status, text, headers = (
                fake.replies.pop(0) if fake.replies else fake.default
            )
            data = text.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def json_body(request: dict[str, Any]) -> Any:
    return json.loads(request["body"])
