from datetime import timedelta

import pytest

from endpoints.models import StatusChange
from endpoints.status import change_status, missing_after, offline_after

pytestmark = pytest.mark.django_db


def test_change_status_writes_one_row(
    endpoint, now, audit_events, status_signals, django_capture_on_commit_callbacks
):
    at = now - timedelta(seconds=5)

    with django_capture_on_commit_callbacks(execute=True):
        change = change_status(endpoint, "shutdown", reason="agent_event", at=at)

    endpoint.refresh_from_db()
    assert endpoint.status == "shutdown"
    assert endpoint.status_changed == at
    assert list(StatusChange.objects.all()) == [change]
    assert (change.old_status, change.new_status) == ("online", "shutdown")
    assert change.reason == "agent_event"
    assert change.at == at
    assert audit_events.kinds() == ["endpoint.status_changed"]
    assert audit_events.calls[0]["endpoint_id"] == endpoint.pk
    assert audit_events.calls[0]["details"]["status_change_id"] == change.pk
    assert [call["status_change"] for call in status_signals.calls] == [change]


def test_change_status_same_status_writes_nothing(
    endpoint, now, audit_events, status_signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        change = change_status(endpoint, "online", reason="checkin", at=now)

    assert change is None
    assert not StatusChange.objects.exists()
    assert audit_events.calls == []
    assert callbacks == []
    assert status_signals.calls == []


def test_change_status_signal_waits_for_commit(endpoint, now, status_signals):
    # Inside the test's transaction nothing commits, so nothing is sent.
    change_status(endpoint, "offline", reason="sweep", at=now)

    assert status_signals.calls == []


def test_thresholds_follow_settings(settings):
    settings.EXEC_CHECKIN_INTERVAL = 60
    settings.EXEC_OFFLINE_GRACE = 60
    settings.EXEC_MISSING_AFTER_DAYS = 7

    assert offline_after() == timedelta(seconds=180)
    assert missing_after() == timedelta(days=7)

    settings.EXEC_CHECKIN_INTERVAL = 30
    assert offline_after() == timedelta(seconds=120)
