"""No secret reaches a log line or an error message, on success or failure."""

import base64
import logging

import pytest

from connectors.actions import check_connector
from connectors.choices import ConnectorKind, OktaAuthType
from connectors.http import TokenCache
from connectors.models import Connector
from connectors.notify import DeliveryError, send_slack, send_webhook
from connectors.okta import OktaClient, OktaError
from connectors.okta_sandbox import public_key_pem

pytestmark = pytest.mark.django_db

KEY = base64.b64encode(b"w" * 32).decode()


def pem_body(pem: str) -> list[str]:
    """Return the base64 lines of a PEM key, any of which would leak it."""
    return [line for line in pem.splitlines() if line and not line.startswith("-")]


def test_secrets_absent_from_logs_and_errors(
    caplog, okta_server, okta_connector, rsa_private_key_pem, receiver
):
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []

    # SSWS: a retried call, a connection test and a failing one.
    okta_server.state.queue_rate_limit((1,))
    client = OktaClient.for_connector(okta_connector, sleep=lambda s: None)
    client.list_users()
    check_connector(okta_connector, actor=None)

    # OAuth: mint, use, lose the token, re-mint, then a missing scope.
    client_id = okta_server.state.add_oauth_client(
        public_key_pem(rsa_private_key_pem), "okta.users.read"
    )
    oauth = Connector.objects.create(
        kind=ConnectorKind.OKTA,
        name="OAuth",
        base_url=okta_server.base_url,
        okta_auth_type=OktaAuthType.OAUTH,
        client_id=client_id,
        scopes="okta.users.read",
    )
    oauth.set_secret(rsa_private_key_pem)
    oauth.save()
    oauth_client = OktaClient.for_connector(oauth, token_cache=TokenCache())
    oauth_client.list_users()
    access_tokens = list(okta_server.state.issued)
    okta_server.state.issued.clear()
    oauth_client.list_users()
    access_tokens += list(okta_server.state.issued)
    first_user = oauth_client.list_users()[0]["id"]
    with pytest.raises(OktaError, match=r"missing scope okta\.groups\.read") as scope:
        oauth_client.list_user_groups(first_user)
    errors.append(str(scope.value))

    # Slack and webhook, delivered and rejected.
    slack = Connector(pk=90, kind=ConnectorKind.SLACK, name="Slack")
    slack.set_secret(f"{receiver.base_url}/services/T9/B9/slacksecretpart")
    receiver.replies = [
        (429, "", {"Retry-After": "0"}),
        (200, "ok", {}),
        (404, "no_service", {}),
    ]
    send_slack(slack, "one", sleep=lambda s: None)
    with pytest.raises(DeliveryError) as slack_error:
        send_slack(slack, "two", sleep=lambda s: None)
    errors.append(str(slack_error.value))
    hook = Connector(
        pk=91, kind=ConnectorKind.WEBHOOK, name="Hook", base_url=receiver.base_url
    )
    hook.set_secret(f"whsec_{KEY}")
    send_webhook(hook, "t", {}, message_id="msg_1")

    secrets = [
        okta_server.api_token,
        "slacksecretpart",
        KEY,
        *access_tokens,
        *pem_body(rsa_private_key_pem),
    ]
    logged = caplog.text + "\n".join(errors)
    assert "retrying" in caplog.text
    assert "re-minting token after 401" in caplog.text
    assert len(access_tokens) == 2
    for secret in secrets:
        assert secret not in logged


def test_secrets_absent_from_reprs(okta_server, okta_connector):
    client = OktaClient.for_connector(okta_connector)

    assert okta_server.api_token not in repr(client.http.auth)
    assert okta_server.api_token not in str(okta_connector)
