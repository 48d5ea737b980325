import pytest
from django.contrib.auth.models import Group, User
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from endpoints.models import EndpointUser
from playbooks import engine
from playbooks.choices import RunStatus, RunTrigger

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(make_playbook):
    """A responder, a user allowed this playbook only, and an outsider."""
    responder = User.objects.create_user("responder")
    responder.groups.add(Group.objects.get(name="Responders"))
    delegate = User.objects.create_user("delegate")
    outsider = User.objects.create_user("outsider")
    return responder, delegate, outsider


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_start_run_by_endpoint(queue, users, make_playbook, endpoint):
    responder, _, _ = users
    playbook = make_playbook()

    response = queue.call(
        api(responder).post,
        f"/api/v1/playbooks/{playbook.pk}/runs",
        {"endpoint": endpoint.pk},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["endpoint"] == endpoint.pk
    assert body["started_by"] == "responder"
    assert body["trigger"] == RunTrigger.MANUAL
    assert body["playbook_version"] == playbook.version
    assert [step["status"] for step in body["step_runs"]] == ["pending"]
    assert len(queue.queued) == 1


def test_start_run_by_username(queue, users, make_playbook, endpoint_user):
    responder, _, _ = users
    playbook = make_playbook(target_kind="user")

    response = queue.call(
        api(responder).post,
        f"/api/v1/playbooks/{playbook.pk}/runs",
        {"username": "CORP\\jdoe"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["endpoint_user"] == endpoint_user.pk
    assert response.json()["endpoint"] == endpoint_user.endpoint_id


def test_start_run_bad_targets(users, make_playbook, endpoint_user, make_endpoint):
    responder, _, _ = users
    playbook = make_playbook()
    EndpointUser.objects.create(endpoint=make_endpoint(), username="CORP\\jdoe")
    url = f"/api/v1/playbooks/{playbook.pk}/runs"
    client = api(responder)

    nothing = client.post(url, {}, format="json")
    no_endpoint = client.post(url, {"endpoint": 999}, format="json")
    no_user = client.post(url, {"username": "nobody"}, format="json")
    several = client.post(url, {"username": "CORP\\jdoe"}, format="json")

    assert nothing.status_code == 400
    assert "endpoint" in nothing.json()
    assert no_endpoint.json() == {"endpoint": ["no endpoint with id 999"]}
    assert no_user.json() == {"username": ["no endpoint user 'nobody'"]}
    assert "several endpoints" in several.json()["username"][0]


def test_start_run_permissions(queue, users, make_playbook, endpoint):
    responder, delegate, outsider = users
    allowed, other = make_playbook(), make_playbook()
    assign_perm("playbooks.run_playbook", delegate, allowed)

    def post(user, playbook):
        return queue.call(
            api(user).post,
            f"/api/v1/playbooks/{playbook.pk}/runs",
            {"endpoint": endpoint.pk},
            format="json",
        ).status_code

    assert post(delegate, allowed) == 201
    assert post(delegate, other) == 403
    assert post(outsider, allowed) == 403
    assert post(responder, other) == 201
    assert APIClient().post(f"/api/v1/playbooks/{allowed.pk}/runs").status_code in (
        401,
        403,
    )


def test_start_run_concurrency_conflict(queue, users, make_playbook, endpoint):
    responder, _, _ = users
    playbook = make_playbook(max_concurrent_runs=1)
    url = f"/api/v1/playbooks/{playbook.pk}/runs"

    queue.call(api(responder).post, url, {"endpoint": endpoint.pk}, format="json")
    second = queue.call(
        api(responder).post, url, {"endpoint": endpoint.pk}, format="json"
    )

    assert second.status_code == 409
    assert "unfinished runs" in second.json()["detail"]


def test_get_run_shows_steps(queue, users, make_playbook, endpoint):
    responder, _, outsider = users
    run = queue.call(
        engine.start_run, make_playbook(), trigger="manual", now=engine.timezone.now()
    )
    queue.drain()

    response = api(responder).get(f"/api/v1/runs/{run.pk}")
    hidden = api(outsider).get(f"/api/v1/runs/{run.pk}")

    assert response.status_code == 200
    step = response.json()["step_runs"][0]
    assert step["status"] == "succeeded"
    assert step["attempts"] == 1
    assert step["started"] is not None
    assert "test.record" in step["log"]
    assert hidden.status_code == 403


def test_cancel_run_api(queue, users, make_playbook):
    responder, _, outsider = users
    run = queue.call(
        engine.start_run, make_playbook(), trigger="manual", now=engine.timezone.now()
    )

    denied = api(outsider).post(f"/api/v1/runs/{run.pk}/cancel")
    cancelled = api(responder).post(f"/api/v1/runs/{run.pk}/cancel")
    again = api(responder).post(f"/api/v1/runs/{run.pk}/cancel")

    assert denied.status_code == 403
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == RunStatus.CANCELLED
    assert cancelled.json()["error"] == "cancelled by responder"
    assert again.status_code == 409
