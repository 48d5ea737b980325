import re
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from endpoints.models import EnrollmentToken, StatusChange, Tag, hash_token
from endpoints.tests.conftest import agent_client

pytestmark = pytest.mark.django_db

LIST = "/admin/endpoints/endpoint/"


def hostnames(response):
    return [row.hostname for row in response.context["cl"].result_list]


def test_endpoint_list_hides_decommissioned(admin_client, make_endpoint):
    make_endpoint(hostname="alive")
    make_endpoint(hostname="retired", status="decommissioned")

    default = admin_client.get(LIST)
    retired = admin_client.get(LIST, {"status": "decommissioned"})
    everything = admin_client.get(LIST, {"status": "all"})

    assert default.status_code == 200
    assert hostnames(default) == ["alive"]
    assert hostnames(retired) == ["retired"]
    assert sorted(hostnames(everything)) == ["alive", "retired"]


def test_endpoint_list_filters(admin_client, make_endpoint, now):
    server, _ = make_endpoint(hostname="srv", platform="windows")
    server.tags.add(Tag.objects.create(name="server"))
    make_endpoint(hostname="old", last_seen=now - timedelta(days=30))

    by_platform = admin_client.get(LIST, {"platform__exact": "windows"})
    by_tag = admin_client.get(LIST, {"tags__id__exact": server.tags.get().pk})
    today = admin_client.get(
        LIST,
        {
            "last_seen__gte": f"{now.date()} 00:00:00+00:00",
            "last_seen__lt": f"{now.date() + timedelta(days=1)} 00:00:00+00:00",
        },
    )

    assert hostnames(by_platform) == ["srv"]
    assert hostnames(by_tag) == ["srv"]
    assert hostnames(today) == ["srv"]
    assert "server" in by_tag.content.decode()


def _list_queries(client, make_endpoint, count):
    for _ in range(count):
        endpoint, _ = make_endpoint()
        endpoint.tags.add(Tag.objects.get_or_create(name="laptops")[0])
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST).status_code == 200
    return len(queries)


def test_endpoint_list_queries_bounded(admin_client, make_endpoint):
    small = _list_queries(admin_client, make_endpoint, 3)
    large = _list_queries(admin_client, make_endpoint, 60)

    assert large == small


def test_endpoint_detail_shows_inlines(admin_client, endpoint, make_task, now):
    agent = agent_client(None)
    endpoint.users.create(username="CORP\\jdoe", domain="CORP", name="jdoe")
    StatusChange.objects.create(
        endpoint=endpoint,
        old_status="offline",
        new_status="online",
        reason="checkin",
        at=now,
    )
    make_task(endpoint, type="isolate_host")
    del agent

    response = admin_client.get(f"{LIST}{endpoint.pk}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "CORP\\jdoe" in page
    assert "status history" in page.lower()
    assert "isolate_host" in page
    assert endpoint.agent_token_hash not in page


def post_action(client, action, endpoints):
    return client.post(
        LIST,
        {"action": action, "_selected_action": [e.pk for e in endpoints]},
        follow=True,
    )


def test_admin_decommission_shows_refusals(admin_client, make_endpoint, now):
    stale, _ = make_endpoint(status="offline", last_seen=now - timedelta(days=3))
    held, _ = make_endpoint(legal_hold=True, last_seen=now - timedelta(days=3))

    response = post_action(admin_client, "decommission", [stale, held])

    messages = [str(message) for message in response.context["messages"]]
    assert any("under legal hold" in message for message in messages)
    assert "1 endpoints decommissioned." in messages
    stale.refresh_from_db()
    held.refresh_from_db()
    assert stale.status == "decommissioned"
    assert held.status == "online"


def test_admin_rotate_shows_token_once(admin_client, endpoint):
    response = admin_client.post(
        LIST, {"action": "rotate_token", "_selected_action": [endpoint.pk]}
    )

    page = response.content.decode()
    tokens = re.findall(r"agt_[A-Za-z0-9_-]{20,}", page)
    assert response.status_code == 200
    assert len(tokens) == 1
    assert "no-store" in response["Cache-Control"]
    endpoint.refresh_from_db()
    assert endpoint.agent_token_hash == hash_token(tokens[0])
    assert tokens[0] not in str(response.cookies)
    assert tokens[0] not in admin_client.get(LIST).content.decode()
    assert (
        agent_client(tokens[0])
        .post("/api/v1/agent/checkin", {}, format="json")
        .status_code
        == 200
    )


def test_admin_revoke_token(admin_client, endpoint_and_token):
    endpoint, token = endpoint_and_token

    post_action(admin_client, "revoke_token", [endpoint])

    endpoint.refresh_from_db()
    assert endpoint.agent_token_hash is None
    assert (
        agent_client(token).post("/api/v1/agent/checkin", {}, format="json").status_code
        == 401
    )


def test_admin_legal_hold_actions_audited(admin_client, endpoint):
    post_action(admin_client, "set_hold", [endpoint])
    endpoint.refresh_from_db()
    assert endpoint.legal_hold is True

    post_action(admin_client, "clear_hold", [endpoint])
    endpoint.refresh_from_db()
    assert endpoint.legal_hold is False

    entries = LogEntry.objects.get_for_object(endpoint).filter(
        action=LogEntry.Action.UPDATE
    )
    entries = entries.order_by("timestamp")
    assert [entry.changes_dict["legal_hold"] for entry in entries] == [
        ["False", "True"],
        ["True", "False"],
    ]
    assert all(entry.actor.username == "admin" for entry in entries)


def test_admin_token_actions_need_permission(client, endpoint):
    viewer = User.objects.create_user("viewer", password="pw-for-tests", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Responders"))
    client.force_login(viewer)

    response = client.get(LIST)

    assert response.status_code == 200
    form = response.context["action_form"]
    actions = dict(form.fields["action"].choices) if form else {}
    assert "decommission" not in actions
    assert "rotate_token" not in actions
    assert "set_hold" not in actions


def test_admin_enrollment_token_shown_once(admin_client, now):
    Tag.objects.create(name="laptops")
    response = admin_client.post(
        "/admin/endpoints/enrollmenttoken/add/",
        {
            "label": "Office",
            "expires_0": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
            "expires_1": "12:00:00",
            "max_uses": "10",
            "tags": [Tag.objects.get().pk],
        },
    )

    page = response.content.decode()
    tokens = re.findall(r"enr_[A-Za-z0-9_-]{20,}", page)
    assert response.status_code == 200
    assert len(tokens) == 1
    saved = EnrollmentToken.objects.get()
    assert saved.token_hash == hash_token(tokens[0])
    assert saved.label == "Office"
    assert saved.max_uses == 10
    assert [tag.name for tag in saved.tags.all()] == ["laptops"]
    assert saved.created_by.username == "admin"

    change_page = admin_client.get(
        f"/admin/endpoints/enrollmenttoken/{saved.pk}/change/"
    ).content.decode()
    assert tokens[0] not in change_page
    assert saved.token_hash not in change_page
    for entry in LogEntry.objects.get_for_object(saved):
        assert "token_hash" not in entry.changes_dict
        assert saved.token_hash not in str(entry.changes)


def test_auditlog_endpoint_fields_only(endpoint):
    updates = LogEntry.objects.get_for_object(endpoint).filter(
        action=LogEntry.Action.UPDATE
    )
    endpoint.hostname = "renamed"
    endpoint.save()
    assert not updates.exists()

    endpoint.contained = True
    endpoint.save()
    entry = updates.get()
    assert set(entry.changes_dict) == {"contained"}
