"""Notices to approvers: who gets them, links, reminders and failures."""

import json
import socket
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from approvals import notify
from approvals.choices import ApprovalStatus, NotificationStatus
from approvals.models import ApprovalNotification
from approvals.tests.conftest import start_waiting_run
from connectors.choices import ConnectorKind
from connectors.models import Connector

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def extra_channels() -> Iterator[dict]:
    """Channels a test adds; the ones they replace come back afterwards."""
    before = notify.channels()
    added: dict = {}
    yield added
    for name in added:
        notify.register_channel(name, before.get(name))


def test_email_goes_to_approvers_only(
    queue,
    settings,
    playbook,
    endpoint_user,
    initiator,
    approver,
    second_approver,
    other_approver,
):
    settings.EXEC_BASE_URL = "http://127.0.0.1:8000"
    retired = User.objects.create_user("retired", email="retired@corp.example.com")
    retired.groups.add(Group.objects.get(name="Approvers"))
    retired.is_active = False
    retired.save()
    silent = User.objects.create_user("silent")
    silent.groups.add(Group.objects.get(name="Approvers"))
    mail.outbox.clear()

    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["alice@corp.example.com", "bob@corp.example.com"]
    assert message.subject == "[Exec] Approval needed: Suspend account jdoe"
    assert f"http://127.0.0.1:8000/approvals/{request.pk}/" in message.body
    assert "CORP\\jdoe on ws-042" in message.body
    notice = ApprovalNotification.objects.get(request=request, channel="email")
    assert notice.status == NotificationStatus.SENT
    assert notice.detail == "2 recipients"


def test_email_reaches_object_permission_approver(
    queue, playbook, endpoint_user, initiator
):
    olga = User.objects.create_user("olga", email="olga@corp.example.com")
    assign_perm("playbooks.approve_playbook", olga, playbook)
    group = Group.objects.create(name="Identity team")
    gus = User.objects.create_user("gus", email="gus@corp.example.com")
    gus.groups.add(group)
    assign_perm("playbooks.approve_playbook", group, playbook)
    mail.outbox.clear()

    start_waiting_run(queue, playbook, endpoint_user, initiator)

    assert sorted(mail.outbox[0].to) == [
        "gus@corp.example.com",
        "olga@corp.example.com",
    ]


def test_smtp_failure_is_stored_not_raised(
    queue, settings, closed_port, playbook, endpoint_user, initiator, approver
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port
    settings.EMAIL_TIMEOUT = 2

    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    request.refresh_from_db()
    assert request.status == ApprovalStatus.PENDING
    notice = ApprovalNotification.objects.get(request=request, channel="email")
    assert notice.status == NotificationStatus.FAILED
    assert "ConnectionRefusedError" in notice.detail
    client = APIClient()
    client.force_authenticate(approver)
    body = client.get(f"/api/v1/approvals/{request.pk}/").json()
    assert body["notifications"][0]["status"] == "failed"
    client.force_login(approver)
    page = client.get(f"/approvals/{request.pk}/").content.decode()
    assert "ConnectionRefusedError" in page


def test_failing_channel_does_not_stop_others(
    queue, extra_channels, playbook, endpoint_user, initiator, approver
):
    slack_messages = []

    def broken(message):
        raise TimeoutError("Slack did not answer within 10 s")

    def slack(message):
        slack_messages.append(message)
        return "#soc"

    for name, channel in {
        "webhook": broken,
        "slack": slack,
        "pager": lambda m: None,
    }.items():
        notify.register_channel(name, channel)
        extra_channels[name] = channel
    mail.outbox.clear()

    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    notices = {
        notice.channel: notice
        for notice in ApprovalNotification.objects.filter(request=request)
    }
    assert notices["webhook"].status == NotificationStatus.FAILED
    assert notices["webhook"].detail == "TimeoutError: Slack did not answer within 10 s"
    assert notices["slack"].status == NotificationStatus.SENT
    assert notices["slack"].detail == "#soc"
    assert notices["pager"].status == NotificationStatus.SKIPPED
    assert notices["email"].status == NotificationStatus.SENT
    assert slack_messages[0].link.endswith(f"/approvals/{request.pk}/")
    assert len(mail.outbox) == 1


def test_deliver_twice_sends_once(queue, waiting, approver):
    _, request = waiting
    mail.outbox.clear()

    again = notify.deliver(request.pk, "request")

    assert again == {}
    assert mail.outbox == []


def test_no_approver_with_email_fails_visibly(
    queue, playbook, endpoint_user, initiator
):
    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    notice = ApprovalNotification.objects.get(request=request, channel="email")
    assert notice.status == NotificationStatus.FAILED
    assert "no active approver" in notice.detail


def test_slack_connector_receives_notice(
    queue, receiver, playbook, endpoint_user, initiator, approver
):
    slack = Connector(kind=ConnectorKind.SLACK, name="SOC channel")
    slack.set_secret(f"{receiver.base_url}/services/T0/B0/secret")
    slack.save()

    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    notice = ApprovalNotification.objects.get(request=request, channel="slack")
    text = json.loads(receiver.received[0]["body"])["text"]
    assert notice.status == NotificationStatus.SENT
    assert notice.detail == "SOC channel"
    assert f"/approvals/{request.pk}/" in text
    assert request.summary in text


def test_slack_failure_is_stored(
    queue, receiver, playbook, endpoint_user, initiator, approver
):
    receiver.default = (404, "no_service", {})
    slack = Connector(kind=ConnectorKind.SLACK, name="SOC channel")
    slack.set_secret(f"{receiver.base_url}/services/T0/B0/secret")
    slack.save()

    _, request = start_waiting_run(queue, playbook, endpoint_user, initiator)

    notice = ApprovalNotification.objects.get(request=request, channel="slack")
    assert request.status == "pending"
    assert notice.status == NotificationStatus.FAILED
    assert "HTTP 404" in notice.detail
    assert "secret" not in notice.detail
