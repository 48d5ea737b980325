"""A run through a real django-q2 cluster that stops for approval and goes on."""

import socket

import pytest
from rest_framework.test import APIClient

from approvals.choices import ApprovalStatus, NotificationStatus
from approvals.models import ApprovalNotification, ApprovalRequest
from exec_site.testing import wait_until
from playbooks.choices import RunStatus
from playbooks.models import Playbook, PlaybookRun, Step


@pytest.fixture
def closed_smtp_port(monkeypatch: pytest.MonkeyPatch) -> int:
    """Point the cluster's email at a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("EXEC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("EXEC_SMTP_PORT", str(port))
    return port


@pytest.fixture
def cluster(closed_smtp_port, task_cluster):
    return task_cluster


def test_cluster_waits_for_approval_then_runs(
    cluster, endpoint, initiator, approver, second_approver
):
    playbook = Playbook.objects.create(name="Tag after approval")
    Step.objects.create(
        playbook=playbook,
        order=1,
        action="endpoint.add_tag",
        parameters={"tag": "isolated"},
        requires_approval=True,
    )
    starter = APIClient()
    starter.force_authenticate(initiator)
    started = starter.post(
        f"/api/v1/playbooks/{playbook.pk}/runs",
        {"endpoint": endpoint.pk},
        format="json",
    )
    assert started.status_code == 201
    run = PlaybookRun.objects.get(pk=started.json()["id"])

    request = wait_until(lambda: ApprovalRequest.objects.filter(run=run).first())
    assert request.status == ApprovalStatus.PENDING
    assert not endpoint.tags.filter(name="isolated").exists()
    notice = wait_until(
        lambda: ApprovalNotification.objects.filter(
            request=request, status=NotificationStatus.FAILED
        ).first()
    )
    assert "refused" in notice.detail.lower()

    client = APIClient()
    client.force_authenticate(approver)
    approved = client.post(f"/api/v1/approvals/{request.pk}/approve", {}, format="json")
    assert approved.status_code == 200

    def finished() -> bool:
        run.refresh_from_db()
        return run.status not in (
            RunStatus.QUEUED,
            RunStatus.RUNNING,
            RunStatus.WAITING,
        )

    wait_until(finished, timeout=60)
    assert run.status == RunStatus.SUCCEEDED
    assert endpoint.tags.filter(name="isolated").exists()
    request.refresh_from_db()
    assert request.executed is not None
    late = APIClient()
    late.force_authenticate(second_approver)
    again = late.post(f"/api/v1/approvals/{request.pk}/approve", {}, format="json")
    assert again.status_code == 409
