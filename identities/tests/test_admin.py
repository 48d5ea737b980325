"""The identities admin: links confirmed by the admin, and checked input."""

import pytest
from django.urls import reverse

from connectors.choices import ConnectorKind
from connectors.models import Connector
from exec_site.events import event_recorded
from identities.actions import confirm_link
from identities.models import IdentityLink, ProviderAccount

pytestmark = pytest.mark.django_db

LINK_ADD = "admin:identities_identitylink_add"
ACCOUNT_ADD = "admin:identities_provideraccount_add"


@pytest.fixture
def events():
    recorded = []

    def receive(sender, **kwargs):
        recorded.append(kwargs)

    event_recorded.connect(receive)
    yield recorded
    event_recorded.disconnect(receive)


@pytest.fixture
def joren(okta_connector) -> ProviderAccount:
    return ProviderAccount.objects.create(
        connector=okta_connector,
        provider_user_id="00ujoren0000000000001",
        login="joren.m@example.com",
        display_name="Joren Maes",
        status="ACTIVE",
    )


def other_connector(name: str, kind: str = ConnectorKind.OKTA) -> Connector:
    connector = Connector(kind=kind, name=name, base_url="http://127.0.0.1:9")
    connector.set_secret("00other")
    connector.save()
    return connector


def form_errors(response) -> dict:
    assert response.status_code == 200
    return response.context["adminform"].form.errors


def add_link(admin_client, connector, account, username: str = "CORP\\joren"):
    return admin_client.post(
        reverse(LINK_ADD),
        {"connector": connector.pk, "username": username, "account": account.pk},
    )


def test_admin_link_add_records_admin_and_event(
    admin_client, admin_user, okta_connector, joren, events
):
    response = add_link(admin_client, okta_connector, joren)

    link = IdentityLink.objects.get()
    assert response.status_code == 302
    assert link.confirmed_by == admin_user
    assert link.confirmed_at is not None
    assert link.username_key == "corp\\joren"
    assert link.account_name_key == "joren"
    assert link.account == joren
    assert [e["kind"] for e in events] == ["identity.link_confirmed"]
    assert events[0]["actor"] == admin_user


@pytest.mark.parametrize("username", ["CORP\\joren", "corp\\JOREN", "joren"])
def test_admin_link_duplicate_names_existing(
    admin_client, okta_connector, joren, username
):
    existing = confirm_link(
        "CORP\\joren", okta_connector, joren.provider_user_id, joren.login, actor=None
    )

    response = add_link(admin_client, okta_connector, joren, username)

    errors = form_errors(response)["username"]
    assert f"link {existing.pk} links CORP\\joren to joren.m@example.com" in errors[0]
    assert IdentityLink.objects.count() == 1


def test_admin_link_other_domain_is_allowed(admin_client, okta_connector, joren):
    confirm_link(
        "CORP\\joren", okta_connector, joren.provider_user_id, joren.login, actor=None
    )

    response = add_link(admin_client, okta_connector, joren, "LAB\\joren")

    assert response.status_code == 302
    assert IdentityLink.objects.count() == 2


def test_admin_link_account_of_other_connector(admin_client, okta_connector, joren):
    second = other_connector("Okta second")

    response = add_link(admin_client, second, joren)

    errors = form_errors(response)["account"]
    assert errors == [
        "joren.m@example.com is an account of connector Okta test, not of Okta "
        "second; choose an account of Okta second."
    ]
    assert not IdentityLink.objects.exists()


@pytest.mark.parametrize("kind", [ConnectorKind.SLACK, ConnectorKind.WEBHOOK])
def test_admin_link_rejects_non_okta_connector(admin_client, joren, kind):
    chat = other_connector("Chat", kind)

    response = add_link(admin_client, chat, joren)

    errors = form_errors(response)["connector"]
    assert errors == ["Choose an Okta connector; identities link Okta accounts only."]
    assert not IdentityLink.objects.exists()


def test_admin_link_change_reconfirms(
    admin_client, admin_user, okta_connector, joren, events
):
    link = confirm_link(
        "CORP\\joren",
        okta_connector,
        "00uolder0000000000001",
        "old@example.com",
        actor=None,
    )

    response = admin_client.post(
        reverse("admin:identities_identitylink_change", args=[link.pk]),
        {"account": joren.pk},
    )

    link.refresh_from_db()
    assert response.status_code == 302
    assert link.account == joren
    assert link.username == "CORP\\joren"
    assert link.confirmed_by == admin_user
    assert events[-1]["details"]["replaced"] is True


def account_form(connector, **changes) -> dict:
    data = {
        "connector": connector.pk,
        "provider_user_id": "00unew00000000000001",
        "login": "new@example.com",
        "status": "ACTIVE",
        "last_read_0": "2026-01-01",
        "last_read_1": "10:00:00",
    }
    data.update(changes)
    return data


def test_admin_account_add_accepts_okta(admin_client, okta_connector):
    response = admin_client.post(reverse(ACCOUNT_ADD), account_form(okta_connector))

    assert response.status_code == 302
    assert ProviderAccount.objects.get().status == "ACTIVE"


def test_admin_account_rejects_slack_connector(admin_client):
    chat = other_connector("Chat", ConnectorKind.SLACK)

    response = admin_client.post(reverse(ACCOUNT_ADD), account_form(chat))

    errors = form_errors(response)["connector"]
    assert errors == ["Choose an Okta connector; identities link Okta accounts only."]
    assert not ProviderAccount.objects.exists()


def test_admin_account_rejects_unknown_status(admin_client, okta_connector):
    response = admin_client.post(
        reverse(ACCOUNT_ADD), account_form(okta_connector, status="WHATEVER")
    )

    errors = form_errors(response)["status"]
    assert "WHATEVER is not one of the available choices" in errors[0]
    assert not ProviderAccount.objects.exists()


def test_admin_account_model_clean_rejects_slack(okta_connector):
    from django.core.exceptions import ValidationError

    chat = other_connector("Chat", ConnectorKind.SLACK)
    account = ProviderAccount(connector=chat, provider_user_id="00u1", login="a")

    with pytest.raises(ValidationError) as caught:
        account.full_clean()

    assert caught.value.message_dict["connector"] == [
        "Chat is a Slack incoming webhook connector; choose an Okta connector."
    ]
