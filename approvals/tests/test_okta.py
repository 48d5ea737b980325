"""Okta actions through an approval, against Exec's fake Okta on 127.0.0.1."""

import pytest

from approvals.actions import decide_approval
from approvals.choices import ApprovalStatus
from approvals.tests.conftest import make_playbook, start_waiting_run
from connectors.okta import OktaClient
from endpoints.models import EndpointUser
from identities.models import IdentityLink
from playbooks.choices import RunStatus

pytestmark = pytest.mark.django_db


def okta_status(connector, okta_user_id: str) -> str:
    return OktaClient.for_connector(connector).get_user(okta_user_id)["status"]


def suspend_playbook():
    return make_playbook(
        "Suspend the user's Okta account",
        [{"action": "okta.suspend", "parameters": {}}],
    )


def test_okta_candidates_offered_and_link_confirmed(
    queue, okta_connector, endpoint, initiator, approver
):
    user = EndpointUser.objects.create(
        endpoint=endpoint, username="CORP\\joren", domain="CORP", name="joren"
    )
    run, request = start_waiting_run(queue, suspend_playbook(), user, initiator)

    logins = [option["login"] for option in request.options]
    joren = request.options[0]
    assert logins[0] == "joren.m@example.com"
    assert joren["reasons"]
    assert joren["score"] >= 90
    assert "CORP\\joren" in request.summary

    queue.call(
        decide_approval, request, actor=approver, approved=True, option_id=joren["id"]
    )
    queue.drain()

    run.refresh_from_db()
    link = IdentityLink.objects.get(connector=okta_connector)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert okta_status(okta_connector, joren["okta_user_id"]) == "SUSPENDED"
    assert link.account.login == "joren.m@example.com"
    assert link.confirmed_by == approver


def test_okta_second_candidate_is_the_one_suspended(
    queue, okta_connector, endpoint, initiator, approver
):
    user = EndpointUser.objects.create(endpoint=endpoint, username="John Smith")
    run, request = start_waiting_run(queue, suspend_playbook(), user, initiator)
    assert len(request.options) >= 2
    first, second = request.options[0], request.options[1]

    queue.call(
        decide_approval, request, actor=approver, approved=True, option_id=second["id"]
    )
    queue.drain()

    run.refresh_from_db()
    request.refresh_from_db()
    assert request.status == ApprovalStatus.APPROVED
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert okta_status(okta_connector, second["okta_user_id"]) == "SUSPENDED"
    assert okta_status(okta_connector, first["okta_user_id"]) == "ACTIVE"
