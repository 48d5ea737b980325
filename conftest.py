"""Fixtures shared by every app's tests."""

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django_q.conf import Conf

from exec_site.testing import subprocess_env

ROOT = Path(__file__).resolve().parent


@pytest.fixture
def postgres_only() -> None:
    """Skip a test that needs PostgreSQL's row locks and true concurrency."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://...")


@pytest.fixture
def sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("checks SQLite's own settings")


@pytest.fixture(scope="session", autouse=True)
def private_task_queue() -> Iterator[str]:
    """Give this test session a queue name that no other cluster shares."""
    name = f"exec-test-{uuid.uuid4().hex[:8]}"
    saved = (Conf.PREFIX, Conf.CLUSTER_NAME, Conf.Q_STAT)
    Conf.PREFIX = Conf.CLUSTER_NAME = name
    Conf.Q_STAT = f"django_q:{name}:cluster"
    yield name
    Conf.PREFIX, Conf.CLUSTER_NAME, Conf.Q_STAT = saved


@pytest.fixture
def task_cluster(transactional_db, private_task_queue, tmp_path) -> Iterator[Path]:
    """Run a real django-q2 cluster against the test database until the test ends.

    Yields the path of the cluster's log file.
    """
    log_path = tmp_path / "qcluster.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=subprocess_env(private_task_queue, EXEC_WORKERS="2"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield log_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def okta_server() -> Iterator[Any]:
    """Serve Exec's fake Okta on 127.0.0.1 with the sample directory loaded.

    `okta_server.api_token` is a valid SSWS token; `okta_server.state` contains the
    directory and the switches that reproduce awkward Okta behaviour.
    """
    from connectors.okta_sandbox import OktaSandbox, add_sample_directory

    sandbox = OktaSandbox().start()
    add_sample_directory(sandbox.state)
    sandbox.api_token = sandbox.state.new_api_token()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def rsa_private_key_pem() -> str:
    """An RSA key in PEM, as an Okta service app would hold it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def okta_connector(db, okta_server) -> Any:
    """A saved SSWS Connector pointing at `okta_server`."""
    from connectors.choices import ConnectorKind, OktaAuthType
    from connectors.models import Connector

    connector = Connector(
        kind=ConnectorKind.OKTA,
        name="Okta test",
        base_url=okta_server.base_url,
        okta_auth_type=OktaAuthType.SSWS,
        is_sandbox=True,
        login_suffixes="example.com",
    )
    connector.set_secret(okta_server.api_token)
    connector.save()
    return connector


@dataclass
class FakeReceiver:
    """A fake Slack webhook or webhook receiver on 127.0.0.1.

    `replies` is consumed one per request: (status, body, headers); when it is
    empty the receiver returns `default`. A `Date` among the headers replaces
    the server's own.
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
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )
            status, text, headers = (
                fake.replies.pop(0) if fake.replies else fake.default
            )
            data = text.encode()
            self.send_response_only(status)
            if "Date" not in headers:
                self.send_header("Date", self.date_time_string())
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

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
