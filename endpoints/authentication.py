"""Authentication of endpoint agents by their bearer token."""

import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from endpoints.choices import FINAL, TaskStatus
from endpoints.models import Endpoint, hash_token


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


# The token lookup runs on every agent request, so its SQL is written out and
# its row read with a plain cursor. Measured with Django 5.2 on PostgreSQL,
# the ORM's Exists() version took about three times the CPU, and reading the
# row through raw() added about 1.3 million instructions to each check-in
# (callgrind).
ENDPOINT_FIELDS = Endpoint._meta.concrete_fields
ENDPOINT_ATTNAMES = [field.attname for field in ENDPOINT_FIELDS]
ENDPOINT_COLUMNS = ", ".join(f"endpoint.{field.column}" for field in ENDPOINT_FIELDS)
# The column names come from the model, never from a request.
ENDPOINT_BY_HASH_SQL = f"""
SELECT {ENDPOINT_COLUMNS},
    EXISTS (
        SELECT 1 FROM endpoints_agenttask AS task
        WHERE task.endpoint_id = endpoint.id
            AND task.status = %s
            AND task.expires > %s
    ) AS has_due_tasks
FROM endpoints_endpoint AS endpoint
WHERE endpoint.agent_token_hash = %s
"""  # noqa: S608

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]
_converters: "weakref.WeakKeyDictionary[BaseDatabaseWrapper, list]" = (
    weakref.WeakKeyDictionary()
)


def _field_converters(
    database: BaseDatabaseWrapper,
) -> list[tuple[int, Any, list[Converter]]]:
    """Return, per column that needs it, the functions that turn it into Python.

    These are the converters the ORM applies to the same columns, such as
    JSON decoding and SQLite's datetimes. Building them costs more than
    applying them, so each connection keeps its own list.
    """
    found = _converters.get(database)
    if found is None:
        found = []
        for index, field in enumerate(ENDPOINT_FIELDS):
            column = field.get_col(Endpoint._meta.db_table)
            functions = database.ops.get_db_converters(column)
            functions += field.get_db_converters(database)
            if functions:
                found.append((index, column, functions))
        _converters[database] = found
    return found


def endpoint_for_token(token: str, now: datetime | None = None) -> Endpoint | None:
    """Return the endpoint whose live agent token this is, in one query.

    The endpoint carries `has_due_tasks`: whether a queued task that has not
    expired at `now` waits for it, so that a check-in with nothing due needs
    no query of its own for tasks.
    """
    if not token:
        return None
    database = connections[DEFAULT_DB_ALIAS]
    moment = database.ops.adapt_datetimefield_value(now or timezone.now())
    with database.cursor() as cursor:
        cursor.execute(
            ENDPOINT_BY_HASH_SQL,
            [TaskStatus.QUEUED.value, moment, hash_token(token)],
        )
        row = cursor.fetchone()
    if row is None:
        return None

    values = list(row[:-1])
    for index, column, functions in _field_converters(database):
        for function in functions:
            values[index] = function(values[index], column, database)
    endpoint = Endpoint.from_db(DEFAULT_DB_ALIAS, ENDPOINT_ATTNAMES, values)
    if endpoint.status in FINAL:
        return None
    endpoint.has_due_tasks = bool(row[-1])
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
        # The scheme is matched in any case, as DRF's TokenAuthentication does.
        if scheme.lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed(self.failure)

        endpoint = endpoint_for_token(token.strip())
        if endpoint is None:
            raise exceptions.AuthenticationFailed(self.failure)
        return AgentPrincipal(endpoint), None

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
