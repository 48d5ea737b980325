import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from endpoints.actions import create_enrollment_token
from endpoints.models import Endpoint, EnrollmentToken, StatusChange, hash_token
from endpoints.tests.conftest import agent_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/agent/enroll"
REQUIRED = [
    "enrollment_token",
    "hostname",
    "platform",
    "os_name",
    "os_version",
    "agent_version",
    "machine_id",
]


@pytest.fixture
def enrollment_token(now):
    _, token = create_enrollment_token(
        expires=now + timedelta(hours=1), max_uses=5, tags=["laptops"], label="Q4"
    )
    return token


def facts(token, **changes):
    return {
        "enrollment_token": token,
        "hostname": "laptop-42",
        "fqdn": "laptop-42.corp.example.com",
        "platform": "linux",
        "os_name": "Debian GNU/Linux",
        "os_version": "12",
        "agent_version": "0.1.0",
        "machine_id": "3f2a9c",
        "ip_addresses": ["10.0.0.5"],
        "mac_addresses": ["02:42:ac:11:00:02"],
        **changes,
    }


def enroll(body):
    return APIClient().post(URL, body, format="json")


def test_enroll_creates_endpoint(enrollment_token, audit_events):
    response = enroll(facts(enrollment_token))

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"endpoint_id", "agent_token", "checkin_interval"}
    assert body["checkin_interval"] == 60
    assert body["agent_token"].startswith("agt_")
    endpoint = Endpoint.objects.get(pk=body["endpoint_id"])
    assert endpoint.hostname == "laptop-42"
    assert endpoint.fqdn == "laptop-42.corp.example.com"
    assert (endpoint.source, endpoint.source_id) == ("agent", "3f2a9c")
    assert endpoint.status == "online"
    assert endpoint.last_seen is not None
    assert endpoint.ip_addresses == ["10.0.0.5"]
    assert endpoint.agent_token_hash == hash_token(body["agent_token"])
    assert [tag.name for tag in endpoint.tags.all()] == ["laptops"]
    assert EnrollmentToken.objects.get().uses == 1
    assert "endpoint.enrolled" in audit_events.kinds()
    assert body["agent_token"] not in repr(audit_events.calls)


def test_enroll_token_then_checkin(enrollment_token):
    body = enroll(facts(enrollment_token)).json()

    response = agent_client(body["agent_token"]).post(
        "/api/v1/agent/checkin", {}, format="json"
    )

    assert response.status_code == 200


def test_enroll_missing_fields_400_names_each():
    response = enroll({})

    assert response.status_code == 400
    body = response.json()
    for name in REQUIRED:
        assert body[name] == ["This field is required."], name
    assert not Endpoint.objects.exists()


def test_enroll_bad_platform_400(enrollment_token):
    response = enroll(facts(enrollment_token, platform="beos"))

    assert response.status_code == 400
    assert list(response.json()) == ["platform"]
    assert EnrollmentToken.objects.get().uses == 0


def test_enroll_unknown_token_403():
    response = enroll(facts("enr_not-a-token"))

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Unknown enrollment token; ask an administrator for a new one."
    }
    assert not Endpoint.objects.exists()


def test_enroll_expired_token_403(now):
    expired_at = (now - timedelta(minutes=1)).replace(microsecond=0)
    _, token = create_enrollment_token(expires=expired_at)

    response = enroll(facts(token))

    assert response.status_code == 403
    assert response.json() == {
        "detail": f"Enrollment token expired at "
        f"{expired_at:%Y-%m-%dT%H:%M:%SZ}; create a new one."
    }
    assert EnrollmentToken.objects.get().uses == 0


def test_enroll_used_up_token_403(now):
    _, token = create_enrollment_token(expires=now + timedelta(hours=1), max_uses=1)
    assert enroll(facts(token)).status_code == 201

    response = enroll(facts(token, machine_id="other"))

    assert response.status_code == 403
    assert response.json()["detail"].startswith("Enrollment token is used up (1 of 1")
    assert Endpoint.objects.count() == 1
    assert EnrollmentToken.objects.get().uses == 1


def test_enroll_revoked_token_403(enrollment_token):
    EnrollmentToken.objects.update(revoked=True)

    response = enroll(facts(enrollment_token))

    assert response.status_code == 403
    assert "revoked" in response.json()["detail"]


def test_enroll_failure_keeps_use_count(enrollment_token, monkeypatch):
    from endpoints import actions

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(actions, "_enroll_new", broken)

    with pytest.raises(RuntimeError):
        enroll(facts(enrollment_token))

    assert EnrollmentToken.objects.get().uses == 0


def test_enroll_again_reactivates_record(enrollment_token, audit_events, make_endpoint):
    first = enroll(facts(enrollment_token)).json()
    endpoint = Endpoint.objects.get(pk=first["endpoint_id"])
    Endpoint.objects.filter(pk=endpoint.pk).update(
        status="decommissioned",
        decommissioned=timezone.now(),
        agent_token_hash=None,
    )

    second = enroll(facts(enrollment_token, agent_version="0.2.0")).json()

    assert second["endpoint_id"] == first["endpoint_id"]
    assert second["agent_token"] != first["agent_token"]
    endpoint.refresh_from_db()
    assert endpoint.status == "online"
    assert endpoint.decommissioned is None
    assert endpoint.agent_version == "0.2.0"
    assert Endpoint.objects.count() == 1
    change = StatusChange.objects.get()
    assert (change.old_status, change.new_status) == ("decommissioned", "online")
    assert change.reason == "agent_event"
    assert change.details == {"event": "enrolled"}
    assert "endpoint.reenrolled" in audit_events.kinds()

    old = agent_client(first["agent_token"]).post(
        "/api/v1/agent/checkin", {}, format="json"
    )
    new = agent_client(second["agent_token"]).post(
        "/api/v1/agent/checkin", {}, format="json"
    )
    assert old.status_code == 401
    assert new.status_code == 200


def test_enroll_again_online_rotates_token_only(enrollment_token):
    first = enroll(facts(enrollment_token)).json()

    second = enroll(facts(enrollment_token)).json()

    assert second["endpoint_id"] == first["endpoint_id"]
    assert not StatusChange.objects.exists()
    assert EnrollmentToken.objects.get().uses == 2


@pytest.mark.django_db(transaction=True)
def test_enroll_race_for_last_use(postgres_only, now):
    """Two agents race for the last use of a token; exactly one enrolls."""
    _, token = create_enrollment_token(expires=now + timedelta(hours=1), max_uses=1)
    barrier = threading.Barrier(2)
    statuses = []

    def enroll_one(machine_id):
        try:
            barrier.wait(timeout=10)
            statuses.append(enroll(facts(token, machine_id=machine_id)).status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=enroll_one, args=(name,)) for name in ("m-1", "m-2")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [201, 403]
    assert Endpoint.objects.count() == 1
    assert EnrollmentToken.objects.get().uses == 1


def test_enroll_oversized_body_413(enrollment_token, settings):
    settings.EXEC_AGENT_MAX_BODY = 1024
    body = facts(enrollment_token, hostname="h" * 2000)

    response = enroll(body)

    assert response.status_code == 413
    assert not Endpoint.objects.exists()
    assert EnrollmentToken.objects.get().uses == 0


def test_enroll_malformed_json_400(enrollment_token):
    response = APIClient().post(
        URL, '{"enrollment_token": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert EnrollmentToken.objects.get().uses == 0


def test_enrollment_token_not_an_agent_token(enrollment_token):
    response = agent_client(enrollment_token).post(
        "/api/v1/agent/checkin", {}, format="json"
    )

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication failed."}


def test_enroll_same_machine_at_once_reuses_record(enrollment_token, monkeypatch):
    """The second of two simultaneous enrollments finds the row on insert."""
    from django.db.models import QuerySet

    first = enroll(facts(enrollment_token)).json()
    real_first = QuerySet.first
    calls = []

    def first_misses_endpoint(queryset):
        # The enrollment's own lookup runs before the other one commits.
        if queryset.model is Endpoint and not calls:
            calls.append(queryset)
            return None
        return real_first(queryset)

    monkeypatch.setattr(QuerySet, "first", first_misses_endpoint)

    response = enroll(facts(enrollment_token))

    assert calls
    assert response.status_code == 201
    assert response.json()["endpoint_id"] == first["endpoint_id"]
    assert Endpoint.objects.count() == 1
    endpoint = Endpoint.objects.get()
    assert endpoint.agent_token_hash == hash_token(response.json()["agent_token"])
