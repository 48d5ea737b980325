"""Exec's roles: Django groups and the model permissions each one holds.

The declarations below are the source of truth. Every `migrate` resets the four
groups to them, so grant extra permissions to users or to other groups.
"""

from fnmatch import fnmatchcase
from typing import Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions

# Permissions as "app_label.codename" patterns, matched with fnmatch.
ROLES: dict[str, tuple[str, ...]] = {
    "Administrators": ("*.*",),
    "Responders": (
        "endpoints.view_*",
        "playbooks.view_*",
        "playbooks.run_playbook",
        "playbooks.cancel_playbookrun",
        "forensics.view_*",
        "identities.view_*",
        "approvals.view_*",
    ),
    "Approvers": (
        "approvals.view_*",
        "approvals.decide_approvalrequest",
        "playbooks.approve_playbook",
        "playbooks.view_*",
        "endpoints.view_*",
        "identities.view_*",
    ),
    # Read-only: the timeline, the reports and every part of the configuration.
    # API tokens and sessions are left out because viewing them would hand out
    # credentials.
    "Auditors": (
        "audit.view_*",
        "auditlog.view_*",
        "endpoints.view_*",
        "playbooks.view_*",
        "approvals.view_*",
        "connectors.view_*",
        "identities.view_*",
        "forensics.view_*",
        "auth.view_*",
        "django_q.view_*",
    ),
}


def matches_any(app_label: str, codename: str, patterns: tuple[str, ...]) -> bool:
    name = f"{app_label}.{codename}"
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def sync_roles(apps: Apps) -> None:
    """Create every role's group and set its permissions to the declared ones."""
    for app_config in apps.get_app_configs():
        # Historical app registries have no models module; create_permissions
        # skips such apps unless it is set.
        had_module = getattr(app_config, "models_module", None)
        app_config.models_module = had_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = had_module

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    permissions = list(permission_model.objects.select_related("content_type"))
    for name, patterns in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        granted = [
            permission
            for permission in permissions
            if matches_any(
                permission.content_type.app_label, permission.codename, patterns
            )
        ]
        group.permissions.set(granted)


def sync_roles_after_migrate(
    sender: AppConfig, apps: Apps = global_apps, **kwargs: Any
) -> None:
    """Sync the roles once per `migrate`, after every app's permissions exist.

    Django sends post_migrate once for each app that has a models module, in
    INSTALLED_APPS order, so the roles are synced on the last of those. `flush`
    sends it too, without `apps`, and the roles come back after it.
    """
    with_models = [
        config
        for config in global_apps.get_app_configs()
        if config.models_module is not None
    ]
    if with_models and sender.label == with_models[-1].label:
        sync_roles(apps)
