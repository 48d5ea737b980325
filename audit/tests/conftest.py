"""Users and events shared by the audit tests."""

import pytest
from django.contrib.auth.models import Group, User


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
