"""The Okta actions act on the account chosen in the approval."""

from types import SimpleNamespace

import pytest
from django.utils import timezone

from identities import candidates_for
from identities.actions import confirm_link
from playbooks.actions.base import (
    ActionContext,
    PermanentError,
    TargetKind,
    TransientError,
    get_action,
    registered_actions,
)

pytestmark = pytest.mark.django_db

OKTA_ACTIONS = [
    "okta.clear_sessions",
    "okta.suspend",
    "okta.unsuspend",
    "okta.add_to_group",
    "okta.remove_from_group",
]


def context(parameters=None, *, chosen=None, endpoint_user=None) -> ActionContext:
    approval = SimpleNamespace(chosen_option=chosen) if chosen is not None else None
    return ActionContext(
        run=SimpleNamespace(pk=1),
        step_run=SimpleNamespace(pk=2),
        parameters=parameters or {},
        now=timezone.now(),
        endpoint_user=endpoint_user,
        approval=approval,
    )


def option(candidate: dict) -> dict:
    return {k: candidate[k] for k in ("connector_id", "okta_user_id", "login")}


@pytest.fixture
def johns(okta_connector):
    """The candidates for "John Smith": Smith first, Taylor second."""
    candidates = candidates_for("John Smith", okta_connector)
    assert [c["login"] for c in candidates] == [
        "john.smith@example.com",
        "john.taylor@example.com",
    ]
    return candidates


def status_of(okta_server, user_id: str) -> str:
    return okta_server.state.users[user_id].status


def test_okta_actions_registered_with_approval():
    registry = registered_actions()

    for name in OKTA_ACTIONS:
        assert registry[name].requires_approval is True
        assert registry[name].target_kind == TargetKind.USER


def test_okta_suspend_acts_on_second_candidate(okta_server, johns):
    chosen = johns[1]

    result = get_action("okta.suspend").execute(context(chosen=option(chosen)))

    assert result["outcome"] == "done"
    assert result["okta_user_id"] == chosen["okta_user_id"]
    assert result["chosen_by"] == "approval"
    assert status_of(okta_server, chosen["okta_user_id"]) == "SUSPENDED"
    assert status_of(okta_server, johns[0]["okta_user_id"]) == "ACTIVE"


def test_okta_suspend_twice_reports_already(okta_server, johns):
    action = get_action("okta.suspend")
    action.execute(context(chosen=option(johns[1])))

    result = action.execute(context(chosen=option(johns[1])))

    assert result["outcome"] == "already in that state"


def test_okta_suspend_refusal_is_a_result(okta_server, okta_connector):
    pat = next(u for u in okta_server.state.users.values() if u.status == "PROVISIONED")
    chosen = {
        "connector_id": okta_connector.pk,
        "okta_user_id": pat.id,
        "login": pat.profile["login"],
    }

    result = get_action("okta.suspend").execute(context(chosen=chosen))

    assert result["outcome"] == "refused: cannot suspend a user in status PROVISIONED"


def test_okta_unsuspend_second_candidate(okta_server, johns):
    okta_server.state.set_status(johns[1]["okta_user_id"], "SUSPENDED")

    result = get_action("okta.unsuspend").execute(context(chosen=option(johns[1])))

    assert result["outcome"] == "done"
    assert status_of(okta_server, johns[1]["okta_user_id"]) == "ACTIVE"


def test_okta_clear_sessions_second_candidate(okta_server, johns):
    ctx = context({"revoke_oauth_tokens": True}, chosen=option(johns[1]))

    result = get_action("okta.clear_sessions").execute(ctx)

    taylor = okta_server.state.users[johns[1]["okta_user_id"]]
    smith = okta_server.state.users[johns[0]["okta_user_id"]]
    assert result["outcome"] == "done"
    assert result["oauth_tokens_revoked"] is True
    assert taylor.sessions_cleared == 1
    assert taylor.oauth_tokens_revoked == 1
    assert smith.sessions_cleared == 0


def test_okta_group_actions_second_candidate(okta_server, johns):
    group = next(g for g in okta_server.state.groups.values() if g.name == "Finance")
    taylor = johns[1]["okta_user_id"]

    added = get_action("okta.add_to_group").execute(
        context({"group": "Finance"}, chosen=option(johns[1]))
    )
    assert group.members == {taylor}
    removed = get_action("okta.remove_from_group").execute(
        context({"group": group.id}, chosen=option(johns[1]))
    )

    assert added["outcome"] == "done"
    assert added["group_name"] == "Finance"
    assert removed["outcome"] == "done"
    assert group.members == set()


def test_okta_group_action_refuses_app_group(okta_server, johns):
    result = get_action("okta.add_to_group").execute(
        context({"group": "CORP\\Domain Users"}, chosen=option(johns[1]))
    )

    assert result["outcome"].startswith("refused: group 'CORP\\\\Domain Users' is of")


def test_okta_action_rereads_user_by_id(okta_server, johns):
    chosen = option(johns[1])
    okta_server.state.update_profile(chosen["okta_user_id"], login="jt@example.com")
    ctx = context(chosen=chosen)

    result = get_action("okta.suspend").execute(ctx)

    assert result["login"] == "jt@example.com"
    assert "Okta now has jt@example.com" in ctx.log[0]


def test_okta_action_unknown_user_is_permanent(okta_connector):
    chosen = {
        "connector_id": okta_connector.pk,
        "okta_user_id": "00u00000000000000000",
        "login": "gone@example.com",
    }

    with pytest.raises(PermanentError, match="not found"):
        get_action("okta.suspend").execute(context(chosen=chosen))


def test_okta_action_approval_without_choice(okta_connector):
    with pytest.raises(PermanentError, match="missing okta_user_id, login"):
        get_action("okta.suspend").execute(
            context(chosen={"connector_id": okta_connector.pk})
        )


def test_okta_action_disabled_connector(okta_connector, johns):
    okta_connector.enabled = False
    okta_connector.save()

    with pytest.raises(PermanentError, match="disabled"):
        get_action("okta.suspend").execute(context(chosen=option(johns[1])))


def test_okta_action_unreachable_is_transient(okta_server, johns):
    okta_server.stop()

    with pytest.raises(TransientError, match="Could not connect"):
        get_action("okta.suspend").execute(context(chosen=option(johns[1])))


def test_okta_action_rate_limit_exhausted_is_transient(okta_server, johns):
    okta_server.state.queue_rate_limit((100_000,))

    with pytest.raises(TransientError, match="rate limited"):
        get_action("okta.suspend").execute(context(chosen=option(johns[1])))


def test_okta_action_without_approval_uses_confirmed_link(
    okta_server, okta_connector, johns
):
    confirm_link(
        "CORP\\jtaylor",
        okta_connector,
        johns[1]["okta_user_id"],
        johns[1]["login"],
        actor=None,
    )
    endpoint_user = SimpleNamespace(username="CORP\\jtaylor")

    result = get_action("okta.suspend").execute(context(endpoint_user=endpoint_user))

    assert result["outcome"] == "done"
    assert result["chosen_by"].startswith("confirmed link")
    assert status_of(okta_server, johns[1]["okta_user_id"]) == "SUSPENDED"


def test_okta_action_without_approval_or_link_stops(okta_connector):
    endpoint_user = SimpleNamespace(username="CORP\\jsmith")

    with pytest.raises(PermanentError, match="run this step with approval"):
        get_action("okta.suspend").execute(context(endpoint_user=endpoint_user))


def test_okta_action_describe_names_group(okta_connector):
    text = get_action("okta.add_to_group").describe(context({"group": "Finance"}))

    assert text == "Add the Okta account chosen in this approval to group Finance"


def test_okta_action_describe_names_user(okta_connector):
    endpoint_user = SimpleNamespace(username="CORP\\joren")
    action = get_action("okta.remove_from_group")

    text = action.describe(context({"group": "VPN"}, endpoint_user=endpoint_user))

    assert text == "Remove the Okta account chosen for CORP\\joren from group VPN"


def test_okta_suspend_clear_sessions_does_both(okta_server, johns):
    ctx = context({"clear_sessions": True}, chosen=option(johns[1]))

    result = get_action("okta.suspend").execute(ctx)

    taylor = okta_server.state.users[johns[1]["okta_user_id"]]
    smith = okta_server.state.users[johns[0]["okta_user_id"]]
    assert result["outcome"] == "done"
    assert result["sessions_cleared"] is True
    assert taylor.status == "SUSPENDED"
    assert taylor.sessions_cleared == 1
    assert smith.sessions_cleared == 0


def test_okta_suspend_without_clear_keeps_sessions(okta_server, johns):
    get_action("okta.suspend").execute(context(chosen=option(johns[1])))

    taylor = okta_server.state.users[johns[1]["okta_user_id"]]
    assert taylor.status == "SUSPENDED"
    assert taylor.sessions_cleared == 0


def test_okta_suspend_clear_sessions_unknown_user(okta_connector):
    chosen = {
        "connector_id": okta_connector.pk,
        "okta_user_id": "00unotthere",
        "login": "nobody@example.com",
    }

    with pytest.raises(PermanentError, match="clearing sessions failed"):
        get_action("okta.suspend").execute(
            context({"clear_sessions": True}, chosen=chosen)
        )


def test_okta_suspend_describe_names_sessions(okta_connector):
    action = get_action("okta.suspend")

    both = action.describe(context({"clear_sessions": True}))
    alone = action.describe(context())

    assert both == (
        "Suspend the Okta account chosen in this approval, after clearing all "
        "its sessions"
    )
    assert alone == "Suspend the Okta account chosen in this approval"
