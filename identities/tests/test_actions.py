"""confirm_link: storing an approver's choice of Okta account."""

import pytest
from django.contrib.auth import get_user_model

from endpoints.models import Endpoint, EndpointUser
from exec_site.events import event_recorded
from identities.actions import confirm_link
from identities.models import IdentityLink, ProviderAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    recorded = []

    def receive(sender, **kwargs):
        recorded.append(kwargs)

    event_recorded.connect(receive)
    yield recorded
    event_recorded.disconnect(receive)


def test_confirm_link_stores_account_and_event(okta_connector, events):
    approver = get_user_model().objects.create_user("ana")

    link = confirm_link(
        "CORP\\joren",
        okta_connector,
        "00uabcdefghijklmnopq",
        "joren.m@example.com",
        actor=approver,
        approval_id=12,
    )

    assert link.confirmed_by == approver
    assert link.approval_id == 12
    assert link.account.login == "joren.m@example.com"
    assert link.account_name_key == "joren"
    assert events[0]["kind"] == "identity.link_confirmed"
    assert events[0]["actor"] == approver
    assert events[0]["details"]["replaced"] is False


def test_confirm_link_again_replaces(okta_connector, events):
    confirm_link("CORP\\joren", okta_connector, "00u1", "a@example.com", actor=None)

    link = confirm_link(
        "corp\\JOREN", okta_connector.pk, "00u2", "b@example.com", actor=None
    )

    assert IdentityLink.objects.count() == 1
    assert ProviderAccount.objects.count() == 2
    assert link.account.provider_user_id == "00u2"
    assert events[1]["details"]["replaced"] is True


def test_confirm_link_accepts_endpoint_user(okta_connector):
    endpoint = Endpoint.objects.create(hostname="laptop-7", platform="windows")
    endpoint_user = EndpointUser.objects.create(
        endpoint=endpoint, username="CORP\\joren", domain="CORP", name="joren"
    )

    link = confirm_link(
        endpoint_user, okta_connector, "00u1", "joren.m@example.com", actor=None
    )

    assert link.username == "CORP\\joren"
    assert link.confirmed_by is None


def test_confirm_link_rejects_empty_values(okta_connector):
    with pytest.raises(ValueError, match="endpoint_user"):
        confirm_link("  ", okta_connector, "00u1", "a@example.com", actor=None)
    with pytest.raises(ValueError, match="okta_user_id and login"):
        confirm_link("CORP\\x", okta_connector, "", "a@example.com", actor=None)

    assert not IdentityLink.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_confirm_link_concurrent_approvals_keep_one_link(postgres_only, okta_connector):
    import threading

    from django.db import connection

    barrier = threading.Barrier(4)
    errors = []

    def approve(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            confirm_link(
                "CORP\\joren",
                okta_connector,
                f"00u{number}",
                f"user{number}@example.com",
                actor=None,
            )
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert IdentityLink.objects.count() == 1
    assert ProviderAccount.objects.count() == 4


def test_confirm_link_admin_list_query_count(
    admin_client, okta_connector, django_assert_max_num_queries
):
    from django.urls import reverse

    for number in range(20):
        confirm_link(
            f"CORP\\user{number}",
            okta_connector,
            f"00u{number}",
            f"user{number}@example.com",
            actor=None,
        )

    with django_assert_max_num_queries(10):
        page = admin_client.get(reverse("admin:identities_identitylink_changelist"))

    assert page.status_code == 200
    assert "user19@example.com" in page.content.decode()


def test_confirm_link_audit_lists_only_columns(okta_connector):
    from auditlog.models import LogEntry

    link = confirm_link(
        "CORP\\joren", okta_connector, "00u1", "j@example.com", actor=None
    )

    for instance in (link, link.account):
        columns = {field.name for field in type(instance)._meta.concrete_fields}
        entry = LogEntry.objects.get_for_object(instance).get()
        assert set(entry.changes_dict) <= columns
        assert "links" not in entry.changes_dict
