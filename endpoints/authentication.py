"""Authentication of endpoint agents by their bearer token."""

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from endpoints.choices import FINAL, TaskStatus
from endpoints.models import AgentTask, Endpoint, hash_token


class AgentPrincipal:
    """The authenticated agent of one endpoint, standing in for `request.user`."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.pk = None

    def __str__(self) -> str:
        return f"agent:{self.endpoint.pk}"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return False


def endpoint_for_token(token: str, now: datetime | None = None) -> Endpoint | None:
    """Return the endpoint whose live agent token this is, in one query.

    The endpoint carries `has_due_tasks`: whether a queued task that has not
    expired at `now` waits for it, so that a check-in with nothing due needs
    no query of its own for tasks.
    """
    if not token:
        return None
    due = AgentTask.objects.filter(
        endpoint=OuterRef("pk"),
        status=TaskStatus.QUEUED,
        expires__gt=now or timezone.now(),
    )
    endpoint = (
        Endpoint.objects.filter(agent_token_hash=hash_token(token))
        .annotate(has_due_tasks=Exists(due))
        .first()
    )
    if endpoint is None or endpoint.status in FINAL:
        return None
    return endpoint


class AgentTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <agent token>`.

    Every failure, whether the token is missing, unknown or revoked, gets the
    same 401 so that a caller learns nothing about which tokens exist.
    """

    keyword = "Bearer"
    failure = "Authentication failed."

    def authenticate(self, request: Request) -> tuple[AgentPrincipal, None]:
        header = authentication.get_authorization_header(request).decode(
            "latin-1", errors="replace"
        )
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword:
            raise exceptions.AuthenticationFailed(self.failure)

        endpoint = endpoint_for_token(token.strip())
        if endpoint is None:
            raise exceptions.AuthenticationFailed(self.failure)
        return AgentPrincipal(endpoint), None

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
