import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from endpoints.models import AgentTask, Endpoint, EndpointUser, StatusChange
from endpoints.tests.conftest import agent_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/agent/checkin"
STEADY = {
    "agent_version": "0.1.0",
    "hostname": "host-1",
    "users": [{"username": "CORP\\jdoe", "logged_in": True}],
    "event": None,
}


def checkin(client, body=None):
    return client.post(URL, body if body is not None else {}, format="json")


def test_checkin_updates_last_seen_and_facts(agent, endpoint, now):
    endpoint.last_seen = now - timedelta(seconds=50)
    endpoint.save()

    response = checkin(
        agent,
        {
            "agent_version": "0.2.0",
            "os_version": "13",
            "ip_addresses": ["10.0.0.5", "fe80::1"],
            "mac_addresses": ["02:42:ac:11:00:02"],
        },
    )

    assert response.status_code == 200
    assert response.json() == {"checkin_interval": 60, "tasks": []}
    endpoint.refresh_from_db()
    assert endpoint.last_seen > now - timedelta(seconds=5)
    assert endpoint.agent_version == "0.2.0"
    assert endpoint.os_version == "13"
    assert endpoint.ip_addresses == ["10.0.0.5", "fe80::1"]
    assert endpoint.mac_addresses == ["02:42:ac:11:00:02"]
    assert not StatusChange.objects.exists()


@pytest.mark.parametrize("old_status", ["offline", "missing", "shutdown", "suspended"])
def test_checkin_brings_endpoint_online(
    make_endpoint,
    old_status,
    audit_events,
    status_signals,
    django_capture_on_commit_callbacks,
):
    endpoint, token = make_endpoint(status=old_status)

    with django_capture_on_commit_callbacks(execute=True):
        response = checkin(agent_client(token))

    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.status == "online"
    change = StatusChange.objects.get()
    assert (change.old_status, change.new_status) == (old_status, "online")
    assert change.reason == "checkin"
    assert change.at == endpoint.last_seen
    assert audit_events.kinds() == ["endpoint.status_changed"]
    assert audit_events.calls[0]["actor"] == f"agent:{endpoint.pk}"
    assert [call["status_change"] for call in status_signals.calls] == [change]


@pytest.mark.parametrize("event", ["shutdown", "suspended"])
def test_checkin_event_sets_status_at_once(agent, endpoint, event):
    response = checkin(agent, {"event": event})

    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.status == event
    change = StatusChange.objects.get()
    assert (change.old_status, change.new_status) == ("online", event)
    assert change.reason == "agent_event"
    assert change.details == {"event": event}

    assert checkin(agent).status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.status == "online"
    latest = StatusChange.objects.order_by("-id").first()
    assert (latest.old_status, latest.new_status, latest.reason) == (
        event,
        "online",
        "checkin",
    )


def test_checkin_event_does_not_hand_out_tasks(agent, endpoint, make_task):
    task = make_task(endpoint)

    response = checkin(agent, {"event": "shutdown"})

    assert response.json()["tasks"] == []
    task.refresh_from_db()
    assert task.status == "queued"


def test_checkin_uninstalled_then_401(agent, endpoint):
    response = checkin(agent, {"event": "uninstalled"})

    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.status == "uninstalled"
    assert endpoint.agent_token_hash is None
    change = StatusChange.objects.get()
    assert (change.new_status, change.reason) == ("uninstalled", "agent_event")

    again = checkin(agent)
    assert again.status_code == 401
    assert again.json() == {"detail": "Authentication failed."}
    assert StatusChange.objects.count() == 1


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer agt_unknown",
        "Token agt_unknown",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_checkin_bad_token_401(endpoint, header):
    client = agent_client(None)
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)

    response = checkin(client)

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication failed."}
    assert response["WWW-Authenticate"] == "Bearer"


def test_checkin_decommissioned_401(make_endpoint):
    _, token = make_endpoint(status="decommissioned")

    response = checkin(agent_client(token))

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication failed."}


def test_checkin_oversized_body_413(agent, endpoint, settings, now):
    settings.EXEC_AGENT_MAX_BODY = 2048
    endpoint.last_seen = now - timedelta(hours=1)
    endpoint.save()
    body = json.dumps({"hostname": "x" * 4000})

    response = agent.post(URL, body, content_type="application/json")

    assert response.status_code == 413
    assert "limit is 2048 bytes" in response.json()["detail"]
    endpoint.refresh_from_db()
    assert endpoint.last_seen == now - timedelta(hours=1)
    assert endpoint.hostname != "x" * 4000


def test_checkin_default_limit_one_mebibyte(agent, endpoint):
    body = json.dumps({"hostname": "h", "padding": "x" * (1024 * 1024)})

    response = agent.post(URL, body, content_type="application/json")

    assert response.status_code == 413
    assert "limit is 1048576 bytes" in response.json()["detail"]


def test_checkin_body_without_length_over_limit_413(agent, endpoint, settings):
    from endpoints.views import AgentJSONParser, BodyTooLarge

    settings.EXEC_AGENT_MAX_BODY = 1024
    body = json.dumps({"hostname": "y" * 3000}).encode()

    class Stream:
        def read(self, size):
            return body[:size]

    class Request:
        META = {}

    with pytest.raises(BodyTooLarge, match="limit is 1024 bytes"):
        AgentJSONParser().parse(Stream(), parser_context={"request": Request()})


@pytest.mark.parametrize(
    "body",
    ['{"hostname": ', "not json", b"\xff\xfe{}", "[1, 2"],
)
def test_checkin_malformed_json_400(agent, endpoint, now, body):
    endpoint.last_seen = now - timedelta(hours=1)
    endpoint.save()

    response = agent.post(URL, body, content_type="application/json")

    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]
    endpoint.refresh_from_db()
    assert endpoint.last_seen == now - timedelta(hours=1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hostname": ["a"]}, "hostname"),
        ({"ip_addresses": "10.0.0.5"}, "ip_addresses"),
        ({"ip_addresses": ["not-an-ip"]}, "ip_addresses"),
        ({"users": [{"username": 5, "logged_in": "maybe"}]}, "users"),
        ({"users": [{"username": "CORP\\"}]}, "users"),
        ({"event": "exploded"}, "event"),
        ({"agent_version": "v" * 33}, "agent_version"),
    ],
)
def test_checkin_bad_field_types_400(agent, endpoint, now, body, field):
    endpoint.last_seen = now - timedelta(hours=1)
    endpoint.save()

    response = checkin(agent, body)

    assert response.status_code == 400
    assert field in response.json()
    endpoint.refresh_from_db()
    assert endpoint.last_seen == now - timedelta(hours=1)
    assert not EndpointUser.objects.exists()


def test_checkin_non_object_body_400(agent, endpoint):
    response = agent.post(URL, "[1, 2]", content_type="application/json")

    assert response.status_code == 400


def test_checkin_records_users(agent, endpoint):
    response = checkin(
        agent,
        {
            "users": [
                {"username": "CORP\\jdoe", "logged_in": True},
                {"username": "asmith@corp.example.com", "logged_in": True},
                {"username": "root", "logged_in": False},
            ]
        },
    )

    assert response.status_code == 200
    users = {user.username: user for user in EndpointUser.objects.all()}
    assert set(users) == {"CORP\\jdoe", "asmith@corp.example.com", "root"}
    assert (users["CORP\\jdoe"].domain, users["CORP\\jdoe"].name) == ("CORP", "jdoe")
    assert (
        users["asmith@corp.example.com"].domain,
        users["asmith@corp.example.com"].name,
    ) == ("corp.example.com", "asmith")
    assert (users["root"].domain, users["root"].name) == ("", "root")
    assert users["CORP\\jdoe"].logged_in is True
    assert users["root"].logged_in is False


def test_checkin_users_not_reported_log_out(agent, endpoint):
    checkin(agent, {"users": [{"username": "CORP\\jdoe"}, {"username": "bob"}]})
    first = EndpointUser.objects.get(username="CORP\\jdoe")

    checkin(agent, {"users": [{"username": "bob", "logged_in": True}]})

    jdoe = EndpointUser.objects.get(username="CORP\\jdoe")
    bob = EndpointUser.objects.get(username="bob")
    assert jdoe.logged_in is False
    assert jdoe.last_seen == first.last_seen
    assert bob.logged_in is True
    assert bob.first_seen == first.first_seen
    assert bob.last_seen > first.last_seen


def test_checkin_same_users_refresh_once_per_window(endpoint, now):
    from endpoints.checkin import CheckinReport, record_checkin
    from endpoints.users import ReportedUser

    report = CheckinReport(users=[ReportedUser("CORP\\jdoe", True)])
    start = now.replace(minute=0, second=0)
    Endpoint.objects.filter(pk=endpoint.pk).update(last_seen=start)

    def checkin_at(moment):
        authenticated = Endpoint.objects.get(pk=endpoint.pk)
        authenticated.has_due_tasks = False
        record_checkin(authenticated, report, now=moment)
        return EndpointUser.objects.get()

    first = checkin_at(start + timedelta(seconds=10))
    same_window = checkin_at(start + timedelta(minutes=4))
    next_window = checkin_at(start + timedelta(minutes=5, seconds=30))

    assert first.first_seen == start + timedelta(seconds=10)
    assert same_window.last_seen == start + timedelta(seconds=10)
    assert next_window.last_seen == start + timedelta(minutes=5, seconds=30)
    assert next_window.first_seen == first.first_seen
    assert next_window.logged_in is True


def test_checkin_without_users_keeps_users(agent, endpoint):
    checkin(agent, STEADY)

    checkin(agent, {"agent_version": "0.1.0"})

    assert EndpointUser.objects.get().logged_in is True


def test_checkin_empty_users_logs_everyone_out(agent, endpoint):
    checkin(agent, STEADY)

    checkin(agent, {"users": []})

    assert EndpointUser.objects.get().logged_in is False


def test_checkin_hands_out_due_tasks(agent, endpoint, make_task, now):
    task = make_task(endpoint, parameters={"artifacts": ["autoruns"]})

    response = checkin(agent)

    assert response.status_code == 200
    assert response.json()["tasks"] == [
        {
            "id": task.pk,
            "type": "collect_forensics",
            "parameters": {"artifacts": ["autoruns"]},
            "expires": task.expires.isoformat().replace("+00:00", "Z"),
        }
    ]
    task.refresh_from_db()
    assert task.status == "sent"
    assert task.sent is not None
    assert checkin(agent).json()["tasks"] == []


def test_checkin_skips_expired_and_foreign_tasks(
    agent, endpoint, make_endpoint, make_task, now
):
    expired = make_task(endpoint, expires=now - timedelta(seconds=1))
    other, _ = make_endpoint()
    foreign = make_task(other)
    running = make_task(endpoint, status="running")

    response = checkin(agent)

    assert response.json()["tasks"] == []
    for task in (expired, foreign, running):
        before = task.status
        task.refresh_from_db()
        assert task.status == before


def test_checkin_tasks_oldest_first(agent, endpoint, make_task, now):
    newer = make_task(endpoint, created=now - timedelta(minutes=1))
    older = make_task(endpoint, created=now - timedelta(minutes=5))

    ids = [task["id"] for task in checkin(agent).json()["tasks"]]

    assert ids == [older.pk, newer.pk]


def _steady_queries(make_endpoint, make_task, count):
    """Count the queries of a steady-state check-in with `count` endpoints."""
    endpoints = [make_endpoint() for _ in range(count)]
    endpoint, token = endpoints[count // 2]
    other, _ = endpoints[0] if count > 1 else endpoints[-1]
    make_task(other, status="succeeded")
    client = agent_client(token)
    body = {**STEADY, "hostname": endpoint.hostname}
    assert checkin(client, body).status_code == 200
    # A check-in in a later window also refreshes the users: the costlier case.
    Endpoint.objects.filter(pk=endpoint.pk).update(
        last_seen=timezone.now() - timedelta(minutes=10)
    )

    with CaptureQueriesContext(connection) as queries:
        response = checkin(client, body)
    assert response.status_code == 200
    return len(queries)


def test_checkin_steady_state_three_queries(
    agent, endpoint, django_assert_max_num_queries
):
    body = {**STEADY, "hostname": endpoint.hostname}
    checkin(agent, body)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        last_seen=timezone.now() - timedelta(minutes=10)
    )

    with django_assert_max_num_queries(3):
        response = checkin(agent, body)

    assert response.status_code == 200
    assert response.json()["tasks"] == []


def test_checkin_queries_same_at_10_and_1000(make_endpoint, make_task):
    small = _steady_queries(make_endpoint, make_task, 10)
    Endpoint.objects.all().delete()
    large = _steady_queries(make_endpoint, make_task, 1000)

    assert small == 3
    assert large == small


def test_checkin_sweep_moved_endpoint_comes_back(agent, endpoint, now):
    """A check-in read 'online' but the row is offline now: the slow path fixes it."""
    from endpoints.authentication import endpoint_for_token
    from endpoints.checkin import CheckinReport, record_checkin

    token = agent._credentials["HTTP_AUTHORIZATION"].split()[1]
    authenticated = endpoint_for_token(token)
    Endpoint.objects.filter(pk=endpoint.pk).update(status="offline")

    record_checkin(authenticated, CheckinReport(), now=now)

    endpoint.refresh_from_db()
    assert endpoint.status == "online"
    change = StatusChange.objects.get()
    assert (change.old_status, change.new_status, change.reason) == (
        "offline",
        "online",
        "checkin",
    )


def test_checkin_token_revoked_meanwhile_rejected(agent, endpoint, now):
    from endpoints.authentication import endpoint_for_token
    from endpoints.checkin import CheckinRejected, CheckinReport, record_checkin

    token = agent._credentials["HTTP_AUTHORIZATION"].split()[1]
    authenticated = endpoint_for_token(token)
    Endpoint.objects.filter(pk=endpoint.pk).update(
        agent_token_hash=None, status="offline"
    )

    with pytest.raises(CheckinRejected):
        record_checkin(authenticated, CheckinReport(), now=now)
    endpoint.refresh_from_db()
    assert endpoint.status == "offline"
    assert not AgentTask.objects.exists()


def test_checkin_user_api_token_401(endpoint):
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    api_token = Token.objects.create(user=User.objects.create_user("analyst"))
    client = agent_client(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token.key}")

    assert checkin(client).status_code == 401
    assert checkin(agent_client(api_token.key)).status_code == 401
