"""notify.slack and notify.webhook against fake receivers on 127.0.0.1."""

import base64
import hashlib
import hmac
import json
from types import SimpleNamespace

import pytest
from django.utils import timezone

from connectors.models import Connector
from playbooks.actions.base import (
    ActionContext,
    PermanentError,
    TransientError,
    get_action,
)

pytestmark = pytest.mark.django_db

KEY = base64.b64encode(b"s" * 32).decode()


def context(parameters, step_id: int = 9) -> ActionContext:
    return ActionContext(
        run=SimpleNamespace(pk=5, playbook=SimpleNamespace(name="Stolen laptop")),
        step_run=SimpleNamespace(pk=step_id),
        parameters=parameters,
        now=timezone.now(),
        endpoint=SimpleNamespace(hostname="laptop-7"),
        endpoint_user=SimpleNamespace(username="CORP\\joren"),
    )


@pytest.fixture
def slack(receiver):
    connector = Connector(kind="slack", name="SOC channel")
    connector.set_secret(f"{receiver.base_url}/services/T1/B1/secretpart")
    connector.save()
    return connector


@pytest.fixture
def webhook(receiver):
    connector = Connector(
        kind="webhook", name="SIEM", base_url=f"{receiver.base_url}/hooks/exec"
    )
    connector.set_secret(f"whsec_{KEY}")
    connector.save()
    return connector


def signature_valid(request) -> bool:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    signed = (
        f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode()
        + request["body"]
    )
    expected = base64.b64encode(
        hmac.new(base64.b64decode(KEY), signed, hashlib.sha256).digest()
    ).decode()
    return hmac.compare_digest(headers["webhook-signature"], f"v1,{expected}")


def test_notify_slack_renders_template(receiver, slack):
    parameters = {
        "connector": "SOC channel",
        "message": "{{ playbook }} ran on {{ endpoint }} for {{ user }} "
        "(run {{ run_id }})",
    }

    result = get_action("notify.slack").execute(context(parameters))

    text = json.loads(receiver.received[0]["body"])["text"]
    assert text == "Stolen laptop ran on laptop-7 for CORP\\joren (run 5)"
    assert result["outcome"] == "done"


def test_notify_slack_unknown_variable_is_named(receiver, slack):
    parameters = {"connector": "SOC channel", "message": "{{ hostname }}"}

    with pytest.raises(PermanentError, match="'hostname' is undefined"):
        get_action("notify.slack").execute(context(parameters))

    assert receiver.received == []


def test_notify_slack_archived_channel_is_permanent(receiver, slack):
    receiver.default = (410, "channel_is_archived", {})

    with pytest.raises(PermanentError, match="channel_is_archived") as caught:
        get_action("notify.slack").execute(
            context({"connector": "SOC channel", "message": "hi"})
        )

    slack.refresh_from_db()
    assert "secretpart" not in str(caught.value)
    assert slack.last_check_ok is False
    assert "channel_is_archived" in slack.last_check_message
    assert "secretpart" not in slack.last_check_message


def test_notify_slack_wrong_connector_kind(webhook):
    with pytest.raises(PermanentError, match="no Slack incoming webhook connector"):
        get_action("notify.slack").execute(
            context({"connector": "SIEM", "message": "x"})
        )


def test_notify_webhook_retries_keep_message_id(receiver, webhook):
    receiver.replies = [(500, "", {}), (500, "", {})]
    action = get_action("notify.webhook")
    parameters = {"connector": "SIEM", "message": "contained {{ endpoint }}"}

    for _ in range(2):
        with pytest.raises(TransientError):
            action.execute(context(parameters))
    result = action.execute(context(parameters))

    ids = {r["headers"]["webhook-id"] for r in receiver.received}
    assert len(receiver.received) == 3
    assert ids == {"msg_exec_step_9"}
    assert all(signature_valid(r) for r in receiver.received)
    assert result["webhook_id"] == "msg_exec_step_9"
    webhook.refresh_from_db()
    assert webhook.last_check_ok is None
    assert json.loads(receiver.received[-1]["body"])["data"]["message"] == (
        "contained laptop-7"
    )


def test_notify_webhook_other_step_gets_new_id(receiver, webhook):
    action = get_action("notify.webhook")
    parameters = {"connector": "SIEM", "message": "m"}

    action.execute(context(parameters, step_id=1))
    action.execute(context(parameters, step_id=2))

    ids = [r["headers"]["webhook-id"] for r in receiver.received]
    assert ids == ["msg_exec_step_1", "msg_exec_step_2"]


def test_notify_webhook_gone_is_permanent(receiver, webhook):
    receiver.default = (410, "", {})

    with pytest.raises(PermanentError, match="410"):
        get_action("notify.webhook").execute(
            context({"connector": "SIEM", "message": "m"})
        )

    webhook.refresh_from_db()
    assert webhook.last_check_ok is False
