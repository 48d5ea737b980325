"""Okta response actions for the run engine: sessions, suspension, groups.

Each acts on the account an approver chose in the step's approval. Only a step
configured to run without approval falls back to a confirmed IdentityLink. The
Okta client reads the user by id before it acts, so a stale choice cannot act
on a changed account unseen.
"""

import logging
from typing import Any, ClassVar

from connectors.choices import ConnectorKind, Outcome
from connectors.http import HttpConnectionError
from connectors.models import Connector
from connectors.okta import EnsureResult, OktaClient, OktaError
from identities.actions import confirm_link, endpoint_username
from identities.matching import confirmed_link_for
from playbooks.actions.base import (
    Action,
    ActionContext,
    PermanentError,
    TargetKind,
    TransientError,
    register,
)

logger = logging.getLogger(__name__)

CONNECTOR_PARAMETER = {
    "type": "string",
    "description": "Okta connector name; only used without an approval, to find "
    "the confirmed identity link.",
}


class ChosenAccount:
    """The Okta user an action will change, and how it was chosen."""

    def __init__(
        self, connector: Connector, okta_user_id: str, login: str, source: str
    ) -> None:
        self.connector = connector
        self.okta_user_id = okta_user_id
        self.login = login
        self.source = source


def _okta_connector(connector_id: Any) -> Connector:
    connector = Connector.objects.filter(pk=connector_id).first()
    if connector is None or connector.kind != ConnectorKind.OKTA:
        raise PermanentError(f"connector {connector_id!r} is not an Okta connector")
    if not connector.enabled:
        raise PermanentError(f"connector {connector.name!r} is disabled; enable it")
    return connector


def chosen_account(context: ActionContext) -> ChosenAccount:
    """Return the account from the approval, or else from a confirmed link."""
    approval = context.approval
    if approval is not None:
        option = getattr(approval, "chosen_option", None) or {}
        missing = [
            key
            for key in ("connector_id", "okta_user_id", "login")
            if not option.get(key)
        ]
        if missing:
            raise PermanentError(
                f"the approval chose no Okta account (missing {', '.join(missing)})"
            )
        return ChosenAccount(
            _okta_connector(option["connector_id"]),
            str(option["okta_user_id"]),
            str(option["login"]),
            "approval",
        )

    if context.endpoint_user is None:
        raise PermanentError("the run has no user target and no approval chose one")
    username = endpoint_username(context.endpoint_user)
    connectors = Connector.objects.filter(kind=ConnectorKind.OKTA, enabled=True)
    name = context.parameters.get("connector")
    if name:
        connectors = connectors.filter(name=name)
    links = [
        link
        for link in (confirmed_link_for(username, c) for c in connectors)
        if link is not None
    ]
    if len(links) != 1:
        found = "no" if not links else f"{len(links)}"
        raise PermanentError(
            f"{found} confirmed identity links for {username}; run this step with "
            "approval so that a person chooses the Okta account"
        )
    link = links[0]
    return ChosenAccount(
        link.connector,
        link.account.provider_user_id,
        link.account.login,
        f"confirmed link {link.pk}",
    )


def approver_of(approval: Any) -> Any:
    """Return the user whose approval chose the account, or None."""
    decisions = getattr(approval, "decisions", None)
    if decisions is None:
        return None
    decision = decisions.filter(approved=True).order_by("-decided").first()
    return decision.actor if decision is not None else None


class OktaUserAction(Action):
    """Shared steps of the Okta actions: choose the account, call, map outcome."""

    target_kind = TargetKind.USER
    requires_approval = True
    # Ensure-state operations: a second run finds the state reached and stops.
    idempotent = True
    # The approval's sentence; {account} names the account the approver picks.
    sentence = "{label} {account}"
    parameters_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"connector": CONNECTOR_PARAMETER},
        "additionalProperties": False,
    }

    def apply(
        self, client: OktaClient, user_id: str, parameters: dict[str, Any]
    ) -> EnsureResult:
        raise NotImplementedError

    def approval_options(self, context: ActionContext) -> list[dict[str, Any]]:
        """Offer the ranked Okta candidates for the run's user, best first.

        A connector that cannot be reached is skipped with a log line, so the
        other connectors' candidates are still offered. When no connector
        answers, the approvals app shows that the action listed no options.
        """
        from identities import candidates_for

        if context.endpoint_user is None:
            return []
        connectors = Connector.objects.filter(kind=ConnectorKind.OKTA, enabled=True)
        name = context.parameters.get("connector")
        if name:
            connectors = connectors.filter(name=name)

        options: list[dict[str, Any]] = []
        for connector in connectors.order_by("name"):
            try:
                candidates = candidates_for(context.endpoint_user, connector)
            except (OktaError, HttpConnectionError) as error:
                logger.warning(
                    "okta candidates failed connector_id=%s step_run_id=%s: %s",
                    connector.pk,
                    context.step_run.pk,
                    error,
                )
                continue
            for candidate in candidates:
                account = f"{candidate['display_name']} <{candidate['login']}>"
                option_id = f"{candidate['connector_id']}:{candidate['okta_user_id']}"
                label = f"{account}, {candidate['status']}, {connector.name}"
                options.append({**candidate, "id": option_id, "label": label})
        return options

    def execute(self, context: ActionContext) -> dict[str, Any]:
        account = chosen_account(context)
        if account.source == "approval" and context.endpoint_user is not None:
            # The approver's choice is remembered and offered first next time,
            # still for approval.
            confirm_link(
                context.endpoint_user,
                account.connector,
                account.okta_user_id,
                account.login,
                actor=approver_of(context.approval),
                approval_id=getattr(context.approval, "pk", None),
            )
        try:
            client = OktaClient.for_connector(account.connector)
            result = self.apply(client, account.okta_user_id, context.parameters)
        except HttpConnectionError as error:
            raise TransientError(str(error)) from None
        except OktaError as error:
            if error.transient:
                raise TransientError(str(error)) from None
            raise PermanentError(str(error)) from None
        except ValueError as error:
            raise PermanentError(str(error)) from None

        user = result.user or {}
        current_login = (user.get("profile") or {}).get("login", "")
        if current_login and current_login != account.login:
            context.log.append(
                f"the chosen login was {account.login}; Okta now has {current_login} "
                f"for user {account.okta_user_id}"
            )
        if result.outcome == Outcome.FAILED:
            raise PermanentError(
                f"{self.label} of {account.login} failed: {result.reason}"
            )
        context.log.append(f"{self.label} of {account.login}: {result.summary()}")
        return {
            "outcome": result.summary(),
            "connector_id": account.connector.pk,
            "okta_user_id": account.okta_user_id,
            "login": current_login or account.login,
            "status": user.get("status", ""),
            "chosen_by": account.source,
            **result.details,
        }

    def describe(self, context: ActionContext) -> str:
        user = context.endpoint_user
        if user is None:
            account = "the Okta account chosen in this approval"
        else:
            account = f"the Okta account chosen for {endpoint_username(user)}"
        # The parameters were validated against the schema when the step was
        # saved, so every name in the sentence is present.
        return self.sentence.format_map(
            {**context.parameters, "label": self.label, "account": account}
        )


@register
class ClearSessions(OktaUserAction):
    name = "okta.clear_sessions"
    label = "Clear Okta sessions"
    sentence = "Clear all sessions of {account}"
    parameters_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "revoke_oauth_tokens": {
                "type": "boolean",
                "default": False,
                "description": "Also revoke the user's OAuth access and refresh "
                "tokens.",
            },
            "connector": CONNECTOR_PARAMETER,
        },
        "additionalProperties": False,
    }

    def apply(
        self, client: OktaClient, user_id: str, parameters: dict[str, Any]
    ) -> EnsureResult:
        revoke = bool(parameters.get("revoke_oauth_tokens", False))
        return client.clear_sessions(user_id, revoke_oauth_tokens=revoke)


@register
class Suspend(OktaUserAction):
    """Suspend the account, optionally ending its sessions first.

    Sessions are cleared before the suspension so that one approval covers
    both, and a retry after a failed suspension clears them again harmlessly.
    """

    name = "okta.suspend"
    label = "Suspend Okta user"
    sentence = "Suspend {account}"
    parameters_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "clear_sessions": {
                "type": "boolean",
                "default": False,
                "description": "Also end all of the user's Okta sessions, before "
                "the suspension.",
            },
            "connector": CONNECTOR_PARAMETER,
        },
        "additionalProperties": False,
    }

    def apply(
        self, client: OktaClient, user_id: str, parameters: dict[str, Any]
    ) -> EnsureResult:
        if not parameters.get("clear_sessions", False):
            return client.suspend(user_id)

        cleared = client.clear_sessions(user_id)
        if cleared.outcome in (Outcome.FAILED, Outcome.REFUSED):
            return EnsureResult(
                Outcome.FAILED,
                f"clearing sessions failed, so the user was not suspended: "
                f"{cleared.reason}",
                cleared.user,
            )
        result = client.suspend(user_id)
        result.details = {**result.details, "sessions_cleared": True}
        return result

    def describe(self, context: ActionContext) -> str:
        sentence = super().describe(context)
        if context.parameters.get("clear_sessions", False):
            sentence += ", after clearing all its sessions"
        return sentence


@register
class Unsuspend(OktaUserAction):
    name = "okta.unsuspend"
    label = "Unsuspend Okta user"
    sentence = "Unsuspend {account}"

    def apply(
        self, client: OktaClient, user_id: str, parameters: dict[str, Any]
    ) -> EnsureResult:
        return client.unsuspend(user_id)


GROUP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "group": {
            "type": "string",
            "minLength": 1,
            "description": "Okta group id (00g…) or exact group name; only "
            "OKTA_GROUP groups can be changed.",
        },
        "connector": CONNECTOR_PARAMETER,
    },
    "required": ["group"],
    "additionalProperties": False,
}


@register
class AddToGroup(OktaUserAction):
    name = "okta.add_to_group"
    label = "Add Okta user to group"
    sentence = "Add {account} to group {group}"
    parameters_schema = GROUP_SCHEMA

    def apply(
        self, client: OktaClient, user_id: str, parameters: dict[str, Any]
    ) -> EnsureResult:
        return client.add_to_group(user_id, parameters["group"])


@register
class RemoveFromGroup(OktaUserAction):
    name = "okta.remove_from_group"
    label = "Remove Okta user from group"
    sentence = "Remove {account} from group {group}"
    parameters_schema = GROUP_SCHEMA

    def apply(
        self, client: OktaClient, user_id: str, parameters: dict[str, Any]
    ) -> EnsureResult:
        return client.remove_from_group(user_id, parameters["group"])
