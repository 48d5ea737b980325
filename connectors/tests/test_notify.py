"""Slack and signed-webhook senders against fake receivers on 127.0.0.1."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from connectors.choices import ConnectorKind
from connectors.models import Connector
from connectors.notify import (
    SLACK_TEXT_LIMIT,
    DeliveryError,
    send_slack,
    send_webhook,
)

from .conftest import json_body

KEY_1 = base64.b64encode(b"k" * 32).decode()
KEY_2 = base64.b64encode(b"z" * 32).decode()


def slack_connector(receiver) -> Connector:
    connector = Connector(pk=3, kind=ConnectorKind.SLACK, name="Slack")
    connector.set_secret(f"{receiver.base_url}/services/T0/B0/hooksecret")
    return connector


def webhook_connector(receiver, secret: str = f"whsec_{KEY_1}") -> Connector:
    connector = Connector(
        pk=4,
        kind=ConnectorKind.WEBHOOK,
        name="Hook",
        base_url=f"{receiver.base_url}/in",
    )
    connector.set_secret(secret)
    return connector


def verify(request: dict, key_b64: str, *, now: float) -> bool:
    """Check a delivery as a Standard Webhooks receiver does."""
    headers = {k.lower(): v for k, v in request["headers"].items()}
    message_id = headers["webhook-id"]
    timestamp = int(headers["webhook-timestamp"])
    if abs(now - timestamp) > 300:
        return False
    signed = f"{message_id}.{timestamp}.".encode() + request["body"]
    expected = base64.b64encode(
        hmac.new(base64.b64decode(key_b64), signed, hashlib.sha256).digest()
    ).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


def test_notify_slack_sends_text(receiver):
    send_slack(slack_connector(receiver), "Endpoint laptop-7 isolated")

    request = receiver.received[0]
    assert request["path"] == "/services/T0/B0/hooksecret"
    assert json_body(request) == {"text": "Endpoint laptop-7 isolated"}


def test_notify_slack_truncates_long_text(receiver):
    send_slack(slack_connector(receiver), "x" * 10_000)

    assert len(json_body(receiver.received[0])["text"]) == SLACK_TEXT_LIMIT


def test_notify_slack_burst_waits_and_keeps_order(receiver):
    receiver.replies = [(429, "rate_limited", {"Retry-After": "2"})]
    waits = []
    connector = slack_connector(receiver)

    for number in range(5):
        send_slack(connector, f"message {number}", sleep=waits.append)

    delivered = [json_body(r)["text"] for r in receiver.received[1:]]
    assert delivered == [f"message {n}" for n in range(5)]
    assert len(waits) == 1
    assert 2 <= waits[0] <= 3


@pytest.mark.parametrize(
    ("status", "body"), [(410, "channel_is_archived"), (404, "no_service")]
)
def test_notify_slack_broken_webhook_not_retried(receiver, status, body):
    receiver.default = (status, body, {})

    with pytest.raises(DeliveryError) as caught:
        send_slack(slack_connector(receiver), "hello", sleep=lambda s: None)

    assert not caught.value.transient
    assert body in str(caught.value)
    assert "broken" in str(caught.value)
    assert "hooksecret" not in str(caught.value)
    assert len(receiver.received) == 1


def test_notify_slack_server_error_is_transient(receiver):
    receiver.default = (500, "rollup_error", {})

    with pytest.raises(DeliveryError) as caught:
        send_slack(slack_connector(receiver), "hello")

    assert caught.value.transient


def test_notify_slack_requires_ok_body(receiver):
    receiver.default = (200, "not ok", {})

    with pytest.raises(DeliveryError, match="did not accept"):
        send_slack(slack_connector(receiver), "hello")


def test_notify_webhook_signature_verifies(receiver):
    now = time.time()

    send_webhook(
        webhook_connector(receiver),
        "incident.containment.succeeded",
        {"endpoint": "laptop-7"},
        message_id="msg_1",
        now=now,
    )

    request = receiver.received[0]
    body = json.loads(request["body"])
    assert verify(request, KEY_1, now=now)
    assert not verify(request, KEY_2, now=now)
    assert body["type"] == "incident.containment.succeeded"
    assert body["data"] == {"endpoint": "laptop-7"}
    assert request["headers"]["webhook-id"] == "msg_1"


def test_notify_webhook_rotation_signs_with_each_key(receiver):
    send_webhook(
        webhook_connector(receiver, f"whsec_{KEY_2} whsec_{KEY_1}"),
        "exec.notification",
        {},
        message_id="msg_2",
    )

    request = receiver.received[0]
    assert len(request["headers"]["webhook-signature"].split()) == 2
    assert verify(request, KEY_1, now=time.time())
    assert verify(request, KEY_2, now=time.time())


def test_notify_webhook_tampered_body_fails_verification(receiver):
    send_webhook(webhook_connector(receiver), "t", {"a": 1}, message_id="msg_3")

    request = dict(receiver.received[0])
    request["body"] = request["body"].replace(b'"a":1', b'"a":2')
    assert not verify(request, KEY_1, now=time.time())


def test_notify_webhook_stale_timestamp_rejected_by_receiver(receiver):
    send_webhook(
        webhook_connector(receiver), "t", {}, message_id="msg_4", now=time.time() - 600
    )

    assert not verify(receiver.received[0], KEY_1, now=time.time())


def test_notify_webhook_failure_statuses(receiver):
    receiver.replies = [(500, "", {}), (410, "", {})]
    connector = webhook_connector(receiver)

    with pytest.raises(DeliveryError) as server_error:
        send_webhook(connector, "t", {}, message_id="msg_5")
    with pytest.raises(DeliveryError) as gone:
        send_webhook(connector, "t", {}, message_id="msg_5")

    assert server_error.value.transient
    assert not gone.value.transient


def test_notify_webhook_bad_secret_named():
    connector = Connector(
        kind=ConnectorKind.WEBHOOK, name="Hook", base_url="http://127.0.0.1:9"
    )
    connector.set_secret("whsec_not base64!")

    with pytest.raises(ValueError, match="whsec_<base64 key>"):
        send_webhook(connector, "t", {}, message_id="msg_6")
