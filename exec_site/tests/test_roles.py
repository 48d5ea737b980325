import pytest
from django.contrib.auth.models import Group, Permission

from exec_site.roles import ROLES, matches_any, sync_roles

pytestmark = pytest.mark.django_db


def codenames(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {
        f"{permission.content_type.app_label}.{permission.codename}"
        for permission in group.permissions.select_related("content_type")
    }


def test_roles_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)


def test_administrators_hold_every_permission():
    assert codenames("Administrators") == {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type")
    }


def test_auditors_are_read_only():
    granted = codenames("Auditors")

    assert "auditlog.view_logentry" in granted
    assert "auth.view_user" in granted
    assert "django_q.view_schedule" in granted
    assert all(name.split(".")[1].startswith("view_") for name in granted)


def test_auditors_cannot_see_credentials():
    granted = codenames("Auditors")

    assert "authtoken.view_token" not in granted
    assert "authtoken.view_tokenproxy" not in granted
    assert "sessions.view_session" not in granted


def test_responders_and_approvers_cannot_change_configuration():
    for role in ("Responders", "Approvers"):
        granted = codenames(role)
        assert not any(
            name.split(".")[1].startswith(("add_", "change_", "delete_"))
            for name in granted
        ), role
        assert "auth.view_user" not in granted


def test_sync_roles_restores_declared_permissions():
    from django.apps import apps

    auditors = Group.objects.get(name="Auditors")
    auditors.permissions.add(Permission.objects.get(codename="delete_user"))

    sync_roles(apps)

    assert "auth.delete_user" not in codenames("Auditors")


def test_sync_roles_is_idempotent():
    from django.apps import apps

    before = {name: codenames(name) for name in ROLES}

    sync_roles(apps)

    assert {name: codenames(name) for name in ROLES} == before
    assert Group.objects.filter(name__in=ROLES).count() == len(ROLES)


@pytest.mark.parametrize(
    ("name", "patterns", "expected"),
    [
        ("auth.view_user", ("auth.view_*",), True),
        ("auth.change_user", ("auth.view_*",), False),
        ("audit.view_event", ("*.*",), True),
        ("auditlog.view_logentry", ("audit.view_*",), False),
    ],
)
def test_matches_any(name, patterns, expected):
    app_label, codename = name.split(".")

    assert matches_any(app_label, codename, patterns) is expected
