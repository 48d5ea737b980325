"""Workflows on identities: confirming that an endpoint user is an Okta account."""

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from connectors.models import Connector
from exec_site.events import record_event
from identities.matching import parse_endpoint_user
from identities.models import IdentityLink, ProviderAccount, username_key

logger = logging.getLogger(__name__)


def endpoint_username(endpoint_user: Any) -> str:
    """Return the user string of an EndpointUser, or the string itself."""
    return str(getattr(endpoint_user, "username", endpoint_user))


def confirm_link(
    endpoint_user: Any,
    connector: Connector | int,
    okta_user_id: str,
    login: str,
    *,
    actor: Any,
    approval_id: int | None = None,
    display_name: str = "",
    status: str = "",
) -> IdentityLink:
    """Store that `endpoint_user` is the Okta user `okta_user_id`, with an event.

    `endpoint_user` is an EndpointUser or a user string such as `CORP\\jdoe`;
    `actor` is the approver (a user) or None for the automation. Confirming
    again replaces the earlier link for the same user string and connector.
    """
    username = endpoint_username(endpoint_user).strip()
    if not username:
        raise ValueError("endpoint_user: empty; give a user name such as CORP\\jdoe")
    if not okta_user_id or not login:
        raise ValueError("okta_user_id and login are required to confirm a link")
    if not isinstance(connector, Connector):
        connector = Connector.objects.get(pk=connector)
    account_name = parse_endpoint_user(username).name or username
    confirmed_by = actor if isinstance(actor, get_user_model()) else None

    with transaction.atomic():
        account, _ = ProviderAccount.objects.update_or_create(
            connector=connector,
            provider_user_id=okta_user_id,
            defaults={
                "login": login,
                "display_name": display_name,
                "status": status,
                "last_read": timezone.now(),
            },
        )
        link, created = IdentityLink.objects.update_or_create(
            connector=connector,
            username_key=username_key(username),
            defaults={
                "username": username,
                "account_name_key": username_key(account_name),
                "account": account,
                "confirmed_by": confirmed_by,
                "confirmed_at": timezone.now(),
                "approval_id": approval_id,
            },
        )
        record_event(
            "identity.link_confirmed",
            f"{username} confirmed as Okta user {login}",
            actor=actor,
            subject=link,
            details={
                "connector_id": connector.pk,
                "okta_user_id": okta_user_id,
                "login": login,
                "approval_id": approval_id,
                "replaced": not created,
            },
        )
    logger.info(
        "identity link confirmed link=%s connector=%s okta_user_id=%s",
        link.pk,
        connector.pk,
        okta_user_id,
    )
    return link
