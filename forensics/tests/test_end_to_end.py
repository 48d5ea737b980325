"""A playbook step collects a package from the real agent through a live server."""

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from endpoints.actions import create_enrollment_token
from endpoints.models import Endpoint
from exec_site.testing import wait_until
from forensics.models import CollectedFile, ForensicsPackage
from playbooks import engine
from playbooks.choices import RunStatus
from playbooks.models import Playbook, PlaybookRun, Step

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="collects from this Linux machine"
)


def run_agent(*arguments: str, config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(settings.BASE_DIR)}
    return subprocess.Popen(
        [sys.executable, "-m", "agent", *arguments, "--config", str(config)],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(run: PlaybookRun) -> bool:
    run.refresh_from_db()
    return run.status not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


@pytest.fixture
def enrolled_agent(live_server, tmp_path):
    _, token = create_enrollment_token(expires=timezone.now() + timedelta(hours=1))
    config = tmp_path / "agent.json"
    enroll = run_agent(
        "enroll", "--server", live_server.url, "--token", token, config=config
    )
    _, stderr = enroll.communicate(timeout=60)
    assert enroll.returncode == 0, stderr
    endpoint = Endpoint.objects.get(pk=json.loads(config.read_text())["endpoint_id"])
    return config, endpoint


def test_playbook_collects_package_and_file(
    settings, task_cluster, enrolled_agent, tmp_path
):
    # Agents check in every few seconds so the test does not wait a minute.
    settings.EXEC_CHECKIN_INTERVAL = 5
    config, endpoint = enrolled_agent
    suspicious = tmp_path / "dropper.bin"
    suspicious.write_bytes(b"not malware, made by the test " * 100)
    playbook = Playbook.objects.create(name="Collect evidence", trigger_type="manual")
    Step.objects.create(
        playbook=playbook,
        order=1,
        name="Package",
        action="endpoint.collect_forensics",
        parameters={"artifacts": ["system", "users", "network.interfaces"]},
    )
    Step.objects.create(
        playbook=playbook,
        order=2,
        name="File",
        action="endpoint.collect_file",
        parameters={"path": str(suspicious)},
    )
    analyst = User.objects.create_superuser("analyst", password="x")

    run = engine.start_run(
        playbook,
        trigger="manual",
        now=timezone.now(),
        endpoint=endpoint,
        started_by=analyst,
    )
    agent = run_agent("run", config=config)
    try:
        wait_until(lambda: finished(run), timeout=120, interval=0.5)
    finally:
        agent.send_signal(signal.SIGTERM)
        _, agent_log = agent.communicate(timeout=30)

    steps = list(run.step_runs.order_by("order"))
    assert run.status == RunStatus.SUCCEEDED, (run.error, agent_log)
    assert [step.status for step in steps] == ["succeeded", "succeeded"]

    package = ForensicsPackage.objects.get(endpoint=endpoint)
    rows = {a.name: a.row_count for a in package.artifacts.all()}
    assert package.task_id == steps[0].agent_task_id
    assert rows["users.users"] > 0
    assert rows["network.interfaces"] > 0
    assert rows["system.os_version"] == 1

    collected = CollectedFile.objects.get(endpoint=endpoint)
    assert collected.original_path == str(suspicious)
    assert collected.size == suspicious.stat().st_size

    browser = Client()
    browser.force_login(analyst)
    page = browser.get(f"/forensics/packages/{package.pk}/")
    assert page.status_code == 200
    assert b"users.users" in page.content
