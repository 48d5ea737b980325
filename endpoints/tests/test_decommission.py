from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from endpoints.actions import (
    DecommissionRefused,
    cancel_agent_task,
    decommission_endpoint,
    revoke_agent_token,
    rotate_agent_token,
    set_legal_hold,
)
from endpoints.models import Endpoint, StatusChange, hash_token
from endpoints.tests.conftest import agent_client

pytestmark = pytest.mark.django_db

CHECKIN = "/api/v1/agent/checkin"
STALE = timedelta(days=1)


@pytest.fixture
def operator():
    return User.objects.create_user("operator")


@pytest.fixture
def silent(make_endpoint, now):
    return make_endpoint(status="offline", last_seen=now - timedelta(days=3))


def test_decommission_revokes_and_records(
    silent,
    operator,
    now,
    audit_events,
    status_signals,
    django_capture_on_commit_callbacks,
):
    endpoint, token = silent

    with django_capture_on_commit_callbacks(execute=True):
        decommission_endpoint(
            endpoint, actor=operator, now=now, reason="laptop returned"
        )

    assert endpoint.status == "decommissioned"
    endpoint.refresh_from_db()
    assert endpoint.status == "decommissioned"
    assert endpoint.decommissioned == now
    assert endpoint.agent_token_hash is None
    change = StatusChange.objects.get()
    assert (change.old_status, change.new_status, change.reason) == (
        "offline",
        "decommissioned",
        "operator",
    )
    assert change.details == {"comment": "laptop returned"}
    assert audit_events.calls[0]["actor"] == operator
    assert len(status_signals.calls) == 1
    assert agent_client(token).post(CHECKIN, {}, format="json").status_code == 401


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"legal_hold": True}, "legal hold"),
        ({"contained": True}, "contained"),
        ({"status": "decommissioned"}, "decommissioned already"),
    ],
)
def test_decommission_refusals(make_endpoint, operator, now, fields, words):
    endpoint, _ = make_endpoint(last_seen=now - timedelta(days=3), **fields)

    with pytest.raises(DecommissionRefused, match=words):
        decommission_endpoint(endpoint, actor=operator, now=now, stale_after=STALE)

    assert not StatusChange.objects.exists()
    endpoint.refresh_from_db()
    assert endpoint.agent_token_hash is not None


def test_decommission_refuses_queued_tasks(silent, operator, now, make_task):
    endpoint, _ = silent
    make_task(endpoint)

    with pytest.raises(DecommissionRefused, match="1 queued agent tasks"):
        decommission_endpoint(endpoint, actor=operator, now=now)


def test_cancelled_task_lets_decommission_go_ahead(
    silent,
    operator,
    now,
    make_task,
    task_signals,
    audit_events,
    django_capture_on_commit_callbacks,
):
    endpoint, _ = silent
    queued = make_task(endpoint)
    sent = make_task(endpoint, status="sent", sent=now)

    with django_capture_on_commit_callbacks(execute=True):
        assert cancel_agent_task(queued, actor=operator, now=now) is True
        assert cancel_agent_task(sent, actor=operator, now=now) is False
    decommission_endpoint(endpoint, actor=operator, now=now)

    queued.refresh_from_db()
    assert (queued.status, queued.completed) == ("cancelled", now)
    assert queued.error == f"cancelled by {operator} before delivery"
    sent.refresh_from_db()
    assert sent.status == "sent"
    assert [call["task"].pk for call in task_signals.calls] == [queued.pk]
    assert task_signals.calls[0]["task"].status == "cancelled"
    assert audit_events.kinds()[0] == "endpoint.agent_task_cancelled"
    assert endpoint.status == "decommissioned"


def test_admin_cancels_only_queued_tasks(admin_client, endpoint, make_task, now):
    queued = make_task(endpoint)
    sent = make_task(endpoint, status="sent", sent=now)

    response = admin_client.post(
        "/admin/endpoints/agenttask/",
        {"action": "cancel_tasks", "_selected_action": [queued.pk, sent.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert "Agent tasks cancelled: 1." in page
    assert f"Task {sent.pk} is sent, not queued" in page
    queued.refresh_from_db()
    sent.refresh_from_db()
    assert queued.status == "cancelled"
    assert sent.status == "sent"


def test_decommission_ignores_expired_queued_task(silent, operator, now, make_task):
    endpoint, _ = silent
    make_task(endpoint, expires=now - timedelta(minutes=1))

    decommission_endpoint(endpoint, actor=operator, now=now)

    assert endpoint.status == "decommissioned"


def test_decommission_refuses_recently_seen(make_endpoint, operator, now):
    endpoint, _ = make_endpoint(last_seen=now - timedelta(minutes=2))

    with pytest.raises(DecommissionRefused, match="seen 2 minutes ago by Exec agent"):
        decommission_endpoint(endpoint, actor=operator, now=now)


def test_decommission_refuses_seen_by_other_source(
    silent, make_endpoint, operator, now
):
    endpoint, _ = silent
    edr, _ = make_endpoint(
        hostname=endpoint.hostname.upper(),
        source="crowdstrike",
        source_id="cs-1",
        machine_id="",
        last_seen=now - timedelta(hours=2),
    )

    with pytest.raises(DecommissionRefused, match="by CrowdStrike Falcon") as refusal:
        decommission_endpoint(endpoint, actor=operator, now=now, stale_after=STALE)

    assert f"endpoint {edr.pk}" in str(refusal.value)
    endpoint.refresh_from_db()
    assert endpoint.status == "offline"


def test_decommission_stale_after_allows_older(silent, operator, now):
    endpoint, _ = silent

    decommission_endpoint(
        endpoint, actor=operator, now=now, stale_after=timedelta(days=2)
    )

    assert endpoint.status == "decommissioned"


def test_decommissioned_then_reenrolled_keeps_history(silent, operator, now):
    from endpoints.actions import create_enrollment_token, enroll

    endpoint, _ = silent
    decommission_endpoint(endpoint, actor=operator, now=now)
    _, token = create_enrollment_token(expires=now + timedelta(hours=1))

    enrollment = enroll(
        token,
        {
            "hostname": endpoint.hostname,
            "platform": "linux",
            "os_name": "Debian",
            "os_version": "12",
            "agent_version": "0.1.0",
            "machine_id": endpoint.machine_id,
        },
        now=now + timedelta(minutes=5),
    )

    assert enrollment.endpoint.pk == endpoint.pk
    assert not enrollment.created
    statuses = list(
        StatusChange.objects.order_by("at").values_list("old_status", "new_status")
    )
    assert statuses == [("offline", "decommissioned"), ("decommissioned", "online")]


def test_revoke_agent_token_401(endpoint_and_token, operator, now, audit_events):
    endpoint, token = endpoint_and_token

    revoke_agent_token(endpoint, actor=operator, now=now)

    assert agent_client(token).post(CHECKIN, {}, format="json").status_code == 401
    assert audit_events.kinds() == ["endpoint.agent_token_revoked"]
    endpoint.refresh_from_db()
    assert endpoint.status == "online"


def test_rotate_agent_token_swaps(endpoint_and_token, operator, now, audit_events):
    endpoint, old = endpoint_and_token

    new = rotate_agent_token(endpoint, actor=operator, now=now)

    assert new != old
    assert new.startswith("agt_")
    assert Endpoint.objects.get().agent_token_hash == hash_token(new)
    assert agent_client(old).post(CHECKIN, {}, format="json").status_code == 401
    assert agent_client(new).post(CHECKIN, {}, format="json").status_code == 200
    assert new not in repr(audit_events.calls)


def test_set_legal_hold_records_once(endpoint, operator, audit_events):
    set_legal_hold(endpoint, True, actor=operator)
    set_legal_hold(endpoint, True, actor=operator)
    set_legal_hold(endpoint, False, actor=operator)

    assert audit_events.kinds() == [
        "endpoint.legal_hold_set",
        "endpoint.legal_hold_cleared",
    ]
    assert Endpoint.objects.get().legal_hold is False
