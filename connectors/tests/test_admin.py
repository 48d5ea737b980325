"""The connector admin: a write-only secret and the connection test."""

import base64
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.messages import get_messages
from django.urls import reverse

from connectors.choices import ConnectorKind
from connectors.models import Connector

pytestmark = pytest.mark.django_db


def add_form(okta_server, **changes) -> dict:
    data = {
        "kind": "okta",
        "name": "Okta sandbox",
        "base_url": okta_server.base_url,
        "enabled": "on",
        "is_sandbox": "on",
        "okta_auth_type": "ssws",
        "scopes": "okta.users.read",
        "sam_attribute": "samAccountName",
        "secret": okta_server.api_token,
    }
    data.update(changes)
    return data


def test_admin_secret_is_encrypted_and_never_shown(admin_client, okta_server):
    response = admin_client.post(
        reverse("admin:connectors_connector_add"), add_form(okta_server)
    )
    connector = Connector.objects.get()
    page = admin_client.get(
        reverse("admin:connectors_connector_change", args=[connector.pk])
    )

    assert response.status_code == 302
    assert connector.get_secret() == okta_server.api_token
    assert okta_server.api_token not in connector.encrypted_secret
    assert okta_server.api_token not in page.content.decode()
    assert connector.encrypted_secret not in page.content.decode()
    assert "stored, last changed" in page.content.decode()


def test_admin_blank_secret_keeps_stored_one(admin_client, okta_server):
    admin_client.post(reverse("admin:connectors_connector_add"), add_form(okta_server))
    connector = Connector.objects.get()

    response = admin_client.post(
        reverse("admin:connectors_connector_change", args=[connector.pk]),
        add_form(okta_server, secret="", name="Renamed"),
    )

    connector.refresh_from_db()
    assert response.status_code == 302
    assert connector.name == "Renamed"
    assert connector.get_secret() == okta_server.api_token


def test_admin_new_connector_needs_secret(admin_client, okta_server):
    response = admin_client.post(
        reverse("admin:connectors_connector_add"), add_form(okta_server, secret="")
    )

    assert response.status_code == 200
    assert "Enter a secret" in response.content.decode()
    assert not Connector.objects.exists()


def test_admin_oauth_needs_client_id(admin_client, okta_server):
    response = admin_client.post(
        reverse("admin:connectors_connector_add"),
        add_form(okta_server, okta_auth_type="oauth"),
    )

    assert response.status_code == 200
    assert "client id" in response.content.decode()
    assert not Connector.objects.exists()


def oauth_form(okta_server, secret: str, **changes) -> dict:
    return add_form(
        okta_server,
        okta_auth_type="oauth",
        client_id="0oaservice",
        secret=secret,
        **changes,
    )


def pem(key, password: bytes | None = None) -> str:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        ("not-a-key-7f3e9", "the private key is not a valid PEM private key"),
        (pem(ec.generate_private_key(ec.SECP256R1())), "is not an RSA key"),
        (
            pem(rsa.generate_private_key(65537, 2048), b"passphrase"),
            "encrypted with a passphrase",
        ),
    ],
    ids=["not-pem", "ec-key", "encrypted"],
)
def test_admin_oauth_rejects_unusable_key(admin_client, okta_server, secret, expected):
    response = admin_client.post(
        reverse("admin:connectors_connector_add"), oauth_form(okta_server, secret)
    )

    page = response.content.decode()
    errors = response.context["adminform"].form.errors
    assert response.status_code == 200
    assert expected in errors["secret"][0]
    assert errors["secret"][0].startswith("Secret: ")
    lines = secret.splitlines()
    assert secret not in page
    assert lines[len(lines) // 2] not in page
    assert not Connector.objects.exists()


def test_admin_oauth_accepts_rsa_key(admin_client, okta_server, rsa_private_key_pem):
    response = admin_client.post(
        reverse("admin:connectors_connector_add"),
        oauth_form(okta_server, rsa_private_key_pem),
    )

    connector = Connector.objects.get()
    assert response.status_code == 302
    assert connector.get_secret() == rsa_private_key_pem.strip()


def test_admin_oauth_checks_stored_token(admin_client, okta_connector, okta_server):
    response = admin_client.post(
        reverse("admin:connectors_connector_change", args=[okta_connector.pk]),
        oauth_form(okta_server, "", name=okta_connector.name),
    )

    okta_connector.refresh_from_db()
    errors = response.context["adminform"].form.errors
    assert response.status_code == 200
    assert errors["secret"][0].startswith("The stored secret: the private key is")
    assert okta_server.api_token not in response.content.decode()
    assert okta_connector.okta_auth_type == "ssws"


def test_admin_list_shows_sandbox_label(admin_client, okta_connector):
    page = admin_client.get(reverse("admin:connectors_connector_changelist"))

    assert "SANDBOX (not a real tenant)" in page.content.decode()


def run_test_action(admin_client, connector) -> list[str]:
    response = admin_client.post(
        reverse("admin:connectors_connector_changelist"),
        {"action": "test_connection", "_selected_action": [connector.pk]},
        follow=True,
    )
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_admin_test_connection_passes(admin_client, okta_connector):
    messages = run_test_action(admin_client, okta_connector)

    okta_connector.refresh_from_db()
    assert "connected to" in messages[0]
    assert okta_connector.last_check_ok is True
    assert okta_connector.last_checked is not None


def test_admin_test_connection_bad_token(admin_client, okta_connector):
    okta_connector.set_secret("00wrong")
    okta_connector.save()

    messages = run_test_action(admin_client, okta_connector)

    okta_connector.refresh_from_db()
    assert "Okta rejected the credential (401)" in messages[0]
    assert "00wrong" not in messages[0]
    assert okta_connector.last_check_ok is False


def test_admin_test_connection_unreachable(admin_client, okta_connector, okta_server):
    okta_server.stop()

    messages = run_test_action(admin_client, okta_connector)

    assert messages[0] == (
        f"Connector {okta_connector}: Could not connect to "
        f"{okta_connector.base_url}/api/v1/users: connection refused. Check the "
        "URL and that the service is running."
    )
    assert "connector=" not in messages[0]


def test_admin_test_connection_keeps_name_as_entered(admin_client, receiver):
    connector = Connector(
        kind=ConnectorKind.WEBHOOK, name="hook1", base_url=f"{receiver.base_url}/in"
    )
    connector.set_secret("whsec_" + base64.b64encode(b"k" * 32).decode())
    connector.save()

    response = admin_client.post(
        reverse("admin:connectors_connector_changelist"),
        {"action": "test_connection", "_selected_action": [connector.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert "Connector hook1: the receiver accepted a signed test event" in page
    assert "Hook1" not in page


def test_admin_test_connection_slack_body_is_one_line(admin_client, receiver, caplog):
    caplog.set_level(logging.INFO, logger="connectors.actions")
    html = "<html>\n<head><title>404 Not Found</title></head>\n" + "<p>x</p>\n" * 200
    receiver.default = (404, html, {"Content-Type": "text/html"})
    connector = Connector(kind=ConnectorKind.SLACK, name="alerts")
    connector.set_secret(f"{receiver.base_url}/services/T0/B0/hooksecret")
    connector.save()

    messages = run_test_action(admin_client, connector)

    connector.refresh_from_db()
    logged = [r.getMessage() for r in caplog.records if "checked" in r.getMessage()]
    assert messages[0].startswith("Connector alerts: Slack rejected the message: ")
    assert "<html> <head><title>404 Not Found</title></head> <p>x</p>" in messages[0]
    assert "\n" not in messages[0]
    assert len(messages[0]) < 400
    assert "hooksecret" not in messages[0]
    assert "\n" not in connector.last_check_message
    assert len(logged) == 1
    assert "\n" not in logged[0]


def test_admin_okta_without_url_says_an_okta(admin_client, okta_server):
    response = admin_client.post(
        reverse("admin:connectors_connector_add"), add_form(okta_server, base_url="")
    )

    assert response.status_code == 200
    assert "An Okta connector needs a URL" in response.content.decode()
    assert not Connector.objects.exists()


def test_admin_test_connection_without_secret(admin_client, okta_connector):
    okta_connector.encrypted_secret = ""
    okta_connector.save()

    messages = run_test_action(admin_client, okta_connector)

    assert "no secret is stored" in messages[0]


def test_admin_view_only_user_gets_no_secret(client, okta_connector, okta_server):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    auditor = get_user_model().objects.create_user("audra", is_staff=True)
    auditor.user_permissions.add(Permission.objects.get(codename="view_connector"))
    client.force_login(auditor)

    page = client.get(
        reverse("admin:connectors_connector_change", args=[okta_connector.pk])
    )

    assert page.status_code == 200
    assert okta_server.api_token not in page.content.decode()
    assert okta_connector.encrypted_secret not in page.content.decode()
