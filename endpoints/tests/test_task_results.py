import pytest

from endpoints.tests.conftest import agent_client

pytestmark = pytest.mark.django_db


def url(task):
    return f"/api/v1/agent/tasks/{getattr(task, 'pk', task)}/result"


def test_task_result_running_then_succeeded(
    agent,
    endpoint,
    make_task,
    audit_events,
    task_signals,
    django_capture_on_commit_callbacks,
):
    task = make_task(endpoint, status="sent")

    running = agent.post(url(task), {"status": "running"}, format="json")
    task.refresh_from_db()
    assert running.status_code == 200
    assert running.json() == {"id": task.pk, "status": "running"}
    assert task.completed is None
    assert task_signals.calls == []

    with django_capture_on_commit_callbacks(execute=True):
        done = agent.post(
            url(task),
            {"status": "succeeded", "result": {"rows": 3}, "error": ""},
            format="json",
        )

    assert done.status_code == 200
    task.refresh_from_db()
    assert task.status == "succeeded"
    assert task.result == {"rows": 3}
    assert task.completed is not None
    assert [call["task"].pk for call in task_signals.calls] == [task.pk]
    assert audit_events.kinds() == ["endpoint.agent_task_finished"]


def test_task_result_failed_keeps_error(
    agent, endpoint, make_task, task_signals, django_capture_on_commit_callbacks
):
    task = make_task(endpoint, status="running")
    message = "unknown task type 'x'; this agent (version 0.1.0) supports: a, b"

    with django_capture_on_commit_callbacks(execute=True):
        response = agent.post(
            url(task), {"status": "failed", "error": message}, format="json"
        )

    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.status, task.error, task.result) == ("failed", message, None)
    assert len(task_signals.calls) == 1


def test_task_result_foreign_task_404(agent, make_endpoint, make_task):
    other, _ = make_endpoint()
    task = make_task(other, status="sent")

    response = agent.post(url(task), {"status": "succeeded"}, format="json")

    assert response.status_code == 404
    task.refresh_from_db()
    assert task.status == "sent"


def test_task_result_missing_task_404(agent):
    response = agent.post(url(999_999), {"status": "succeeded"}, format="json")

    assert response.status_code == 404


@pytest.mark.parametrize("final", ["succeeded", "failed", "expired", "cancelled"])
def test_task_result_final_task_409(agent, endpoint, make_task, final):
    task = make_task(endpoint, status=final)

    response = agent.post(url(task), {"status": "running"}, format="json")

    assert response.status_code == 409
    assert final in response.json()["detail"]


def test_task_result_undelivered_task_409(agent, endpoint, make_task):
    task = make_task(endpoint)

    response = agent.post(url(task), {"status": "succeeded"}, format="json")

    assert response.status_code == 409
    task.refresh_from_db()
    assert task.status == "queued"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"status": "expired"}, "status"),
        ({}, "status"),
        ({"status": "succeeded", "result": [1, 2]}, "result"),
        ({"status": "failed", "error": ["x"]}, "error"),
    ],
)
def test_task_result_bad_body_400(agent, endpoint, make_task, body, field):
    task = make_task(endpoint, status="sent")

    response = agent.post(url(task), body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    task.refresh_from_db()
    assert task.status == "sent"


def test_task_result_bad_token_401(endpoint, make_task):
    task = make_task(endpoint, status="sent")

    response = agent_client("agt_wrong").post(
        url(task), {"status": "succeeded"}, format="json"
    )

    assert response.status_code == 401
