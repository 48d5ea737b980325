"""Users and events shared by the audit tests."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from audit.models import AuditEvent


def _user(username: str, *groups: str) -> User:
    user = User.objects.create_user(
        username, f"{username}@example.com", "correct horse battery staple"
    )
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def auditor(db) -> User:
    return _user("audrey", "Auditors")


@pytest.fixture
def responder(db) -> User:
    return _user("rick", "Responders")


@pytest.fixture
def administrator(db) -> User:
    user = _user("ada", "Administrators")
    user.is_staff = True
    user.save()
    return user


def _run_past_guards(sql: str, params: list) -> None:
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The replica role skips ordinary triggers, the append-only one too.
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql.format(table=table), params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


@pytest.fixture
def raw_sql(db) -> Callable[[str, list], None]:
    """Run SQL on the audit table past every guard, as a PostgreSQL superuser
    could; `{table}` in the SQL names the table."""
    return _run_past_guards
