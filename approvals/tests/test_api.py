"""The approvals API: the permission matrix, filters, decisions and conflicts."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from approvals.choices import ApprovalStatus
from approvals.tests.conftest import EXECUTED

pytestmark = pytest.mark.django_db


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize(
    ("who", "status", "listed"),
    [
        ("approver", 200, True),
        ("other_approver", 200, False),
        ("initiator", 200, True),
        ("auditor", 200, True),
        ("anonymous", 403, False),
    ],
)
def test_api_list_permissions(waiting, users, who, status, listed):
    _, request = waiting

    response = client_for(users[who]).get("/api/v1/approvals/?status=pending")

    assert response.status_code == status
    if status == 200:
        ids = [row["id"] for row in response.json()["results"]]
        assert (request.pk in ids) is listed


def test_api_list_outsider_forbidden(waiting):
    outsider = User.objects.create_user("outsider")

    response = client_for(outsider).get("/api/v1/approvals/")

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("approver", 200),
        ("other_approver", 404),
        ("initiator", 200),
        ("auditor", 200),
        ("anonymous", 403),
    ],
)
def test_api_detail_permissions(waiting, users, who, status):
    _, request = waiting

    response = client_for(users[who]).get(f"/api/v1/approvals/{request.pk}/")

    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert body["summary"] == "Suspend account jdoe"
        assert body["parameters"] == {"login": "jdoe"}
        assert [option["id"] for option in body["options"]] == ["acct-1", "acct-2"]


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("approver", 200),
        ("other_approver", 404),
        ("initiator", 403),
        ("auditor", 403),
        ("anonymous", 403),
    ],
)
def test_api_approve_permissions(queue, waiting, users, who, status):
    _, request = waiting

    response = queue.call(
        client_for(users[who]).post,
        f"/api/v1/approvals/{request.pk}/approve",
        {"option": "acct-2", "comment": "checked"},
        format="json",
    )
    queue.drain()

    assert response.status_code == status
    request.refresh_from_db()
    approved = who == "approver"
    assert (request.status == ApprovalStatus.APPROVED) is approved
    assert len(EXECUTED) == (1 if approved else 0)
    if approved:
        assert response.json()["chosen_option"]["id"] == "acct-2"
        assert response.json()["decisions"][0]["actor"] == "alice"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("approver", 200),
        ("other_approver", 404),
        ("initiator", 403),
        ("auditor", 403),
        ("anonymous", 403),
    ],
)
def test_api_reject_permissions(queue, waiting, users, who, status):
    _, request = waiting

    response = queue.call(
        client_for(users[who]).post,
        f"/api/v1/approvals/{request.pk}/reject",
        {"comment": "wrong account"},
        format="json",
    )

    assert response.status_code == status
    request.refresh_from_db()
    assert (request.status == ApprovalStatus.REJECTED) is (who == "approver")


def test_api_second_approval_conflicts(queue, waiting, approver, second_approver):
    _, request = waiting
    url = f"/api/v1/approvals/{request.pk}/approve"
    queue.call(client_for(approver).post, url, {"option": "acct-1"}, format="json")

    response = client_for(second_approver).post(
        url, {"option": "acct-1"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["detail"].startswith("already approved by alice at ")


def test_api_reject_without_comment(waiting, approver):
    _, request = waiting

    response = client_for(approver).post(
        f"/api/v1/approvals/{request.pk}/reject", {}, format="json"
    )

    assert response.status_code == 400
    assert "comment" in response.json()
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_api_approve_unknown_option(waiting, approver):
    _, request = waiting

    response = client_for(approver).post(
        f"/api/v1/approvals/{request.pk}/approve", {"option": "acct-9"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "option"
    assert "unknown option 'acct-9'" in response.json()["detail"]


def test_api_approve_deeply_nested_body_400(waiting, approver):
    _, request = waiting
    client = client_for(approver)
    client.raise_request_exception = False

    response = client.post(
        f"/api/v1/approvals/{request.pk}/approve",
        b"[" * 5000 + b"]" * 5000,
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING


def test_api_list_rejects_unknown_status(waiting, approver):
    response = client_for(approver).get("/api/v1/approvals/?status=done")

    assert response.status_code == 400
    assert "unknown status 'done'" in response.json()["status"]


def test_api_list_filters_status(queue, waiting, approver):
    assert waiting[1].status == ApprovalStatus.PENDING
    client = client_for(approver)

    pending = client.get("/api/v1/approvals/?status=pending").json()
    rejected = client.get("/api/v1/approvals/?status=rejected").json()

    assert pending["count"] == 1
    assert rejected["count"] == 0


def test_api_schema_of_approvals_has_no_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    from approvals import api_urls

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=api_urls.urlpatterns)

    schema = generator.get_schema(request=None, public=True)

    assert not GENERATOR_STATS, dict(GENERATOR_STATS._warn_cache)
    assert "/approvals/{approval_id}/approve" in schema["paths"]
    post = schema["paths"]["/approvals/{approval_id}/approve"]["post"]
    assert set(post["responses"]) == {"200", "400", "403", "404", "409"}
