"""The Procfile that `make run` starts: both processes serve and stop cleanly."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from connectors.models import Connector
from endpoints.models import Endpoint, StatusChange
from exec_site.testing import subprocess_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_honcho(honcho: subprocess.Popen) -> None:
    """Stop honcho through Ctrl-C, so that it stops its children too.

    Killing honcho alone would leave its processes running when a test fails
    before it sends the signal itself.
    """
    if honcho.poll() is not None:
        return
    honcho.send_signal(signal.SIGINT)
    try:
        honcho.wait(timeout=30)
    except subprocess.TimeoutExpired:
        honcho.kill()
        honcho.wait(timeout=10)


def healthz(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return json.load(r)
    except OSError:
        return None


def own_queue(session_queue: str) -> str:
    """Return a queue name of this test's own.

    Clusters of earlier tests in the session leave their statistics in the
    cache for a while under the session's queue name, so /healthz would count
    them before this test's cluster has started.
    """
    return f"{session_queue}-{uuid.uuid4().hex[:6]}"


def test_procfile_serves_and_stops_on_sigint(private_task_queue, tmp_path):
    port = free_port()
    venv_bin = str(Path(sys.executable).parent)
    env = subprocess_env(
        own_queue(private_task_queue),
        EXEC_PORT=str(port),
        PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
    )
    log_path = tmp_path / "honcho.log"
    with open(log_path, "w") as log:
        honcho = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "honcho",
                "start",
                "-f",
                "Procfile",
                "web",
                "worker",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        body = wait_until(
            lambda: (h := healthz(port)) and h["broker"]["clusters"] >= 1 and h,
            timeout=90,
            interval=0.5,
        )
        assert body["status"] == "ok"

        honcho.send_signal(signal.SIGINT)
        honcho.wait(timeout=15)
    finally:
        stop_honcho(honcho)

    output = log_path.read_text()
    assert "worker.1 stopped (rc=0)" in output, output
    assert "has stopped" in output
    assert "SIGKILL" not in output


def test_procfile_starts_agent_and_okta_sandbox(private_task_queue, tmp_path):
    port, okta_port = free_port(), free_port()
    venv_bin = str(Path(sys.executable).parent)
    # A private var/ keeps the agent's configuration out of the real one.
    env = subprocess_env(
        own_queue(private_task_queue),
        EXEC_PORT=str(port),
        EXEC_OKTA_SANDBOX_PORT=str(okta_port),
        EXEC_VAR_DIR=str(tmp_path),
        EXEC_CHECKIN_INTERVAL="10",
        PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
    )
    log_path = tmp_path / "honcho.log"
    with open(log_path, "w") as log:
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", "Procfile"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        endpoint = wait_until(
            lambda: Endpoint.objects.filter(status="online").first(),
            timeout=90,
            interval=0.5,
        )
        connector = wait_until(
            lambda: Connector.objects.filter(name="Okta sandbox").first(),
            timeout=30,
            interval=0.5,
        )

        honcho.send_signal(signal.SIGINT)
        honcho.wait(timeout=20)
    finally:
        stop_honcho(honcho)

    output = log_path.read_text()
    endpoint.refresh_from_db()
    assert endpoint.hostname == socket.gethostname()
    assert (tmp_path / "agent" / "agent.json").exists()
    assert connector.is_sandbox is True
    assert connector.base_url == f"http://127.0.0.1:{okta_port}"
    assert endpoint.status == "online", output
    assert not StatusChange.objects.filter(endpoint=endpoint).exists()
    assert "agent.1 stopped" in output, output
    assert "SIGKILL" not in output
