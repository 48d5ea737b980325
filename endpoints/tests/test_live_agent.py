"""The real agent, run as a subprocess, against a live Exec test server."""

import json
import os
import signal
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from endpoints.actions import create_enrollment_token
from endpoints.models import AgentTask, Endpoint, StatusChange
from exec_site.testing import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="systemd probe"),
]


def fake_systemctl(directory: Path, state: str) -> Path:
    """Write a `systemctl` that reports `state`, as during a shutdown or not."""
    directory.mkdir()
    script = directory / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = is-system-running ]; then echo {state}; exit 1; fi\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    return directory


def agent_env(bin_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(settings.BASE_DIR),
    }


def agent(*arguments: str, config: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", *arguments, "--config", str(config)],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        pytest.fail(f"agent did not exit within {timeout} s: {stderr}")
    return process.returncode, stderr


@pytest.fixture
def enrolled(live_server, tmp_path):
    """Enroll this machine through the real agent; return its config and endpoint."""
    _, token = create_enrollment_token(
        expires=timezone.now() + timedelta(hours=1), max_uses=1, tags=["lab"]
    )
    config = tmp_path / "agent.json"
    env = agent_env(fake_systemctl(tmp_path / "bin", "running"))

    code, stderr = finish(
        agent(
            "enroll",
            "--server",
            live_server.url,
            "--token",
            token,
            config=config,
            env=env,
        )
    )

    assert code == 0, stderr
    assert token not in stderr
    saved = json.loads(config.read_text())
    endpoint = Endpoint.objects.get(pk=saved["endpoint_id"])
    return config, endpoint


def queue_ping(endpoint: Endpoint) -> AgentTask:
    return AgentTask.objects.create(
        endpoint=endpoint, type="ping", expires=timezone.now() + timedelta(minutes=10)
    )


def test_live_agent_enrolls_with_private_config(enrolled):
    config, endpoint = enrolled

    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert endpoint.status == "online"
    assert endpoint.platform == "linux"
    assert list(endpoint.tags.values_list("name", flat=True)) == ["lab"]


def test_live_agent_runs_task_then_reports_shutdown(enrolled, tmp_path):
    config, endpoint = enrolled
    task = queue_ping(endpoint)
    env = agent_env(fake_systemctl(tmp_path / "shutdown-bin", "stopping"))

    process = agent("run", config=config, env=env)
    try:
        wait_until(
            lambda: AgentTask.objects.get(pk=task.pk).status == "succeeded",
            timeout=60,
        )
    finally:
        process.send_signal(signal.SIGTERM)
    code, stderr = finish(process)

    task.refresh_from_db()
    endpoint.refresh_from_db()
    change = StatusChange.objects.filter(endpoint=endpoint).first()
    assert code == 0, stderr
    assert task.result["hostname"]
    assert endpoint.status == "shutdown"
    assert change.new_status == "shutdown"
    assert change.reason == "agent_event"


def test_live_agent_plain_stop_reports_nothing(enrolled, tmp_path):
    config, endpoint = enrolled
    env = agent_env(tmp_path / "bin")
    first_seen = endpoint.last_seen

    process = agent("run", config=config, env=env)
    try:
        wait_until(
            lambda: Endpoint.objects.get(pk=endpoint.pk).last_seen != first_seen,
            timeout=60,
        )
    finally:
        process.send_signal(signal.SIGTERM)
    code, stderr = finish(process)

    endpoint.refresh_from_db()
    assert code == 0, stderr
    assert endpoint.status == "online"
    assert not StatusChange.objects.filter(endpoint=endpoint).exists()


def test_live_agent_uninstall_then_rejected(enrolled, tmp_path):
    config, endpoint = enrolled
    env = agent_env(tmp_path / "bin")
    saved = config.read_text()

    code, stderr = finish(agent("uninstall", config=config, env=env))

    endpoint.refresh_from_db()
    assert code == 0, stderr
    assert endpoint.status == "uninstalled"
    assert not config.exists()

    config.write_text(saved)
    config.chmod(0o600)
    code, stderr = finish(agent("once", config=config, env=env))

    assert code == 78, stderr
