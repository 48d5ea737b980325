"""Agent API and admin requests that a careless or hostile client can send.

Each test states what Exec should do with one kind of bad input: respond with
a 4xx status that names the problem, and store nothing.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from endpoints.models import AgentTask, EnrollmentToken, StatusChange
from endpoints.tests.conftest import agent_client

pytestmark = pytest.mark.django_db

CHECKIN = "/api/v1/agent/checkin"
ENROLL = "/api/v1/agent/enroll"


def result_url(task: AgentTask) -> str:
    return f"/api/v1/agent/tasks/{task.pk}/result"


def nested_list(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("path", [ENROLL, CHECKIN, "result"])
def test_agent_api_deep_nesting_400(endpoint_and_token, make_task, now, path):
    endpoint, token = endpoint_and_token
    endpoint.last_seen = now - timedelta(hours=1)
    endpoint.save()
    task = make_task(endpoint, status="sent")
    client = agent_client(token)
    # A 500 must reach the assertion, not abort the test with the exception.
    client.raise_request_exception = False

    response = client.post(
        result_url(task) if path == "result" else path,
        nested_list(5000),
        content_type="application/json",
    )

    assert response.status_code == 400
    endpoint.refresh_from_db()
    assert endpoint.last_seen == now - timedelta(hours=1)


@pytest.mark.parametrize(
    "result",
    [
        b'{"path": "C:\\\\x\\u0000.exe"}',
        b'{"name\\u0000": 1}',
        b'{"name": "\\ud800"}',
        b'{"size": 1e400}',
        b'{"deep": ' + b"[" * 40 + b"]" * 40 + b"}",
    ],
    ids=["nul-in-value", "nul-in-key", "lone-surrogate", "infinity", "deep"],
)
def test_task_result_unstorable_text_400(agent, endpoint, make_task, result):
    # PostgreSQL's jsonb cannot store NUL or lone surrogates, so Exec must
    # reject them on every database with a message naming the field.
    task = make_task(endpoint, status="sent")
    agent.raise_request_exception = False
    body = b'{"status": "succeeded", "result": ' + result + b"}"

    response = agent.post(result_url(task), body, content_type="application/json")

    assert response.status_code == 400
    assert "result" in response.json()
    task.refresh_from_db()
    assert task.status == "sent"


def test_checkin_body_without_length_rejected(agent, endpoint, now):
    # A chunked request has no Content-Length, so Django reads no body. The
    # check-in must not be recorded as an empty one.
    endpoint.last_seen = now - timedelta(hours=1)
    endpoint.save()

    response = agent.generic(
        "POST",
        CHECKIN,
        b'{"event": "shutdown", "hostname": "renamed"}',
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert response.status_code in (400, 411)
    endpoint.refresh_from_db()
    assert endpoint.last_seen == now - timedelta(hours=1)
    assert not StatusChange.objects.exists()


def test_checkin_empty_body_400(agent, endpoint, now):
    endpoint.last_seen = now - timedelta(hours=1)
    endpoint.save()

    response = agent.generic(
        "POST", CHECKIN, b"", content_type="application/json", CONTENT_LENGTH="0"
    )

    assert response.status_code == 400
    endpoint.refresh_from_db()
    assert endpoint.last_seen == now - timedelta(hours=1)


def test_checkin_bearer_scheme_any_case(endpoint_and_token):
    # HTTP authentication schemes are case-insensitive, and DRF's own
    # TokenAuthentication compares its keyword with lower().
    _endpoint, token = endpoint_and_token
    client = agent_client(None)
    client.credentials(HTTP_AUTHORIZATION=f"bearer {token}")

    response = client.post(CHECKIN, {}, format="json")

    assert response.status_code == 200


@pytest.mark.parametrize("status", ["decommissioned", "uninstalled"])
def test_admin_rotate_retired_endpoint_rejected(admin_client, make_endpoint, status):
    # A retired endpoint's token is rejected at check-in, so a rotated one
    # would be shown to the operator but never work.
    endpoint, _ = make_endpoint(status=status, agent_token_hash=None)

    response = admin_client.post(
        "/admin/endpoints/endpoint/?status=all",
        {"action": "rotate_token", "_selected_action": [endpoint.pk]},
        follow=True,
    )

    assert "agt_" not in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.agent_token_hash is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"expires_0": "2000-01-01", "expires_1": "00:00:00"}, "expires"),
        (
            {"expires_0": "2099-01-01", "expires_1": "00:00:00", "max_uses": "0"},
            "max_uses",
        ),
    ],
    ids=["expired", "zero-uses"],
)
def test_admin_enrollment_token_unusable_rejected(admin_client, fields, field):
    response = admin_client.post(
        "/admin/endpoints/enrollmenttoken/add/",
        {"label": "unusable", "_save": "Save", **fields},
    )

    assert response.status_code == 200
    assert "enr_" not in response.content.decode()
    assert field in response.context["adminform"].form.errors
    assert not EnrollmentToken.objects.exists()


def test_admin_enrollment_token_future_accepted(admin_client):
    # The valid case of the test above, so that it cannot pass for another reason.
    expires = timezone.now() + timedelta(days=1)

    response = admin_client.post(
        "/admin/endpoints/enrollmenttoken/add/",
        {
            "label": "usable",
            "_save": "Save",
            "expires_0": expires.strftime("%Y-%m-%d"),
            "expires_1": expires.strftime("%H:%M:%S"),
            "max_uses": "1",
        },
    )

    assert response.status_code == 200
    assert "enr_" in response.content.decode()
    assert EnrollmentToken.objects.count() == 1
