"""The README's walkthrough, end to end, with the real parts `make run` starts.

The parts are a live server, a django-q2 cluster, this machine's agent started
by run_local_agent, and the fake Okta. A Wazuh alert about this machine runs the
starter playbook. The run collects evidence, waits for an approval, suspends
the chosen Okta account and mails the administrators. Then the audit chain
verifies and its report names the playbook.
"""

import io
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from approvals.models import ApprovalRequest
from connectors.management.commands.okta_sandbox import configure_connector
from endpoints.models import Endpoint
from exec_site.testing import subprocess_env, wait_until
from forensics.models import CollectedFile, ForensicsPackage
from playbooks.choices import RunStatus
from playbooks.models import PlaybookRun
from playbooks.starter import COMPROMISED_ENDPOINT

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="collects from this Linux machine"
    ),
]


@pytest.fixture
def local_agent(live_server, private_task_queue, tmp_path):
    """Run `manage.py run_local_agent` against the live server until the test ends.

    Yields the path of the agent's log.
    """
    log_path = tmp_path / "agent.log"
    env = subprocess_env(
        private_task_queue,
        EXEC_BASE_URL=live_server.url,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_local_agent",
                "--config",
                str(tmp_path / "agent" / "agent.json"),
            ],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield log_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def run_of_playbook() -> PlaybookRun | None:
    return PlaybookRun.objects.filter(playbook__name=COMPROMISED_ENDPOINT).first()


def pending_approval(run: PlaybookRun) -> ApprovalRequest | None:
    return ApprovalRequest.objects.filter(run_id=run.pk, status="pending").first()


def finished(run: PlaybookRun) -> bool:
    run.refresh_from_db()
    return run.status not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING)


def test_walkthrough_detection_to_audit_report(
    settings, task_cluster, local_agent, okta_server, tmp_path
):
    # The live server sends this interval to the agent at each check-in.
    settings.EXEC_CHECKIN_INTERVAL = 5
    settings.VAR_DIR = tmp_path
    User.objects.create_superuser("admin", "admin@localhost", "x")
    approver = User.objects.create_user("ana", "ana@localhost")
    approver.groups.add(Group.objects.get(name="Approvers"))
    configure_connector(okta_server.base_url, okta_server.api_token)
    call_command("load_starter_playbooks", stdout=io.StringIO())
    endpoint = wait_until(
        lambda: Endpoint.objects.filter(hostname=socket.gethostname()).first(),
        timeout=90,
        interval=0.5,
    )

    # 1. A detection about this machine, naming a person of the Okta sandbox.
    alert = io.StringIO()
    call_command(
        "demo_detection",
        "--user",
        "CORP\\joren",
        "--record-user",
        stdout=alert,
        stderr=io.StringIO(),
    )
    alert_path = tmp_path / "alert.json"
    alert_path.write_text(alert.getvalue())
    sample_path = json.loads(alert.getvalue())["syscheck"]["path"]
    call_command("send_detection", "wazuh", str(alert_path), stdout=io.StringIO())

    # 2. The run collects evidence from this machine and waits for approval.
    run = wait_until(run_of_playbook, timeout=30, interval=0.5)
    approval = wait_until(
        lambda: pending_approval(run) or (finished(run) and run.error),
        timeout=240,
        interval=1,
    )
    assert isinstance(approval, ApprovalRequest), (
        approval,
        local_agent.read_text(),
        task_cluster.read_text(),
    )
    package = ForensicsPackage.objects.get(endpoint=endpoint)
    rows = {artifact.name: artifact.row_count for artifact in package.artifacts.all()}
    assert rows["users.users"] > 0
    assert rows["system.os_version"] == 1
    collected = CollectedFile.objects.get(endpoint=endpoint)
    assert collected.original_path == sample_path
    assert collected.size == Path(sample_path).stat().st_size
    logins = [option["login"] for option in approval.options]
    assert logins[0] == "joren.m@example.com"

    # 3. An approver who did not start the run approves the suggested account.
    browser = Client()
    browser.force_login(approver)
    page = browser.get(f"/approvals/{approval.pk}/")
    assert page.status_code == 200
    assert b"joren.m@example.com" in page.content
    assert (
        b"Suspend the Okta account chosen for CORP\\joren, after clearing all its "
        b"sessions" in page.content
    )
    response = browser.post(
        f"/approvals/{approval.pk}/approve", {"option": approval.options[0]["id"]}
    )
    assert response.status_code == 302

    wait_until(lambda: finished(run), timeout=120, interval=0.5)
    steps = list(run.step_runs.order_by("order"))
    assert run.status == RunStatus.SUCCEEDED, (run.error, task_cluster.read_text())
    assert [step.status for step in steps] == ["succeeded"] * 4
    joren = next(
        user
        for user in okta_server.state.users.values()
        if user.profile["login"] == "joren.m@example.com"
    )
    assert joren.status == "SUSPENDED"
    assert joren.sessions_cleared == 1
    assert steps[3].result["recipients"] == ["admin@localhost"]

    # 4. The audit chain verifies and the report names the playbook.
    verified = io.StringIO()
    call_command("verify_audit", stdout=verified)
    assert "audit chain OK" in verified.getvalue()
    report = tmp_path / "audit.pdf"
    today = timezone.now().date().isoformat()
    call_command(
        "audit_report",
        "--since",
        today,
        "--output",
        str(report),
        stdout=io.StringIO(),
    )
    text = "".join(page.extract_text() for page in PdfReader(report).pages)
    assert COMPROMISED_ENDPOINT in text
