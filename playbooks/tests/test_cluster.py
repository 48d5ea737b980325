"""End to end through a real django-q2 cluster: detection in, steps run."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.authtoken.models import Token

from endpoints.choices import TaskStatus
from endpoints.models import AgentTask
from endpoints.signals import agent_task_finished
from exec_site.testing import wait_until
from playbooks.choices import RunStatus, StepStatus
from playbooks.models import PlaybookRun
from playbooks.tests.conftest import detection_document


def test_cluster_runs_detection_playbook(task_cluster, make_playbook, make_endpoint):
    endpoint = make_endpoint(hostname="ws-777")
    make_playbook(
        trigger_type="detection",
        steps=[
            {"action": "endpoint.add_tag", "parameters": {"tag": "investigate"}},
            {"action": "endpoint.collect_file", "parameters": {"path": "/tmp/dropper"}},
        ],
    )
    user = User.objects.create_user("siem")
    user.user_permissions.add(Permission.objects.get(codename="add_detection"))
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    body = detection_document("e2e-1", hostname="ws-777", username="")

    response = client.post(
        "/api/v1/detections/generic/", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 201
    run = PlaybookRun.objects.get(pk=response.json()["runs"][0])

    task = wait_until(lambda: AgentTask.objects.filter(endpoint=endpoint).first())
    assert endpoint.tags.filter(name="investigate").exists()
    wait_until(
        lambda: run.step_runs.get(order=2).status == StepStatus.WAITING, timeout=30
    )

    task.status = TaskStatus.SUCCEEDED
    task.result = {"sha256": "ab" * 32}
    task.save()
    agent_task_finished.send(sender=AgentTask, task=task)

    def finished() -> bool:
        run.refresh_from_db()
        return run.status not in (
            RunStatus.QUEUED,
            RunStatus.RUNNING,
            RunStatus.WAITING,
        )

    wait_until(finished, timeout=60)
    assert run.status == RunStatus.SUCCEEDED
    steps = list(run.step_runs.order_by("order"))
    assert [step.status for step in steps] == ["succeeded", "succeeded"]
    assert steps[1].result == {"agent_task": task.pk, "result": {"sha256": "ab" * 32}}
    assert "endpoint.add_tag" in run.log
    assert run.started <= steps[0].started


@pytest.mark.django_db(transaction=True)
def test_cluster_tick_and_watchdog_are_importable():
    from django.utils.module_loading import import_string

    assert import_string("playbooks.tasks.tick")() == {
        "scheduled_runs": 0,
        "watch_runs": 0,
        "queued": 0,
        "tasks_expired": 0,
        "tasks_finished": 0,
    }
    assert import_string("playbooks.tasks.watchdog")() == {"requeued": 0, "failed": 0}
