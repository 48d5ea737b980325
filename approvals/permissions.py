"""Permission checks for viewing and deciding approval requests.

A user with `approvals.decide_approvalrequest` or with
`playbooks.approve_playbook` on the model (the Approvers role) decides the
requests of every playbook. A user who has `approve_playbook` on one
playbook through django-guardian decides that playbook's requests only. No
one decides a request of a run they started themselves.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import BigIntegerField, Q, QuerySet
from django.db.models.functions import Cast
from guardian.models import GroupObjectPermission, UserObjectPermission

from approvals.models import ApprovalRequest
from playbooks.models import Playbook

APPROVE_PLAYBOOK = "playbooks.approve_playbook"
DECIDE_ANY = "approvals.decide_approvalrequest"
VIEW_ANY = "approvals.view_approvalrequest"


def may_decide_all(user: Any) -> bool:
    """Return whether the user may decide the requests of every playbook."""
    if not (user.is_authenticated and user.is_active):
        return False
    return user.has_perm(DECIDE_ANY) or user.has_perm(APPROVE_PLAYBOOK)


def approvable_playbook_ids(user: Any, field: str = "playbook_id") -> Q:
    """Return a filter on `field` for the playbooks the user may approve.

    It covers django-guardian's object permissions of the user and of the
    user's groups, as subqueries, so a filter with it stays one query.
    """
    content_type = ContentType.objects.get_for_model(Playbook)
    rule = Q(
        content_type=content_type,
        permission__content_type=content_type,
        permission__codename="approve_playbook",
    )
    as_id = Cast("object_pk", BigIntegerField())
    direct = UserObjectPermission.objects.filter(rule, user=user)
    via_groups = GroupObjectPermission.objects.filter(rule, group__user=user)
    return Q(
        **{f"{field}__in": direct.annotate(playbook_pk=as_id).values("playbook_pk")}
    ) | Q(
        **{f"{field}__in": via_groups.annotate(playbook_pk=as_id).values("playbook_pk")}
    )


def may_approve_playbook(user: Any, playbook: Playbook) -> bool:
    """Return whether the user may decide requests of this playbook at all."""
    if may_decide_all(user):
        return True
    return bool(user.is_active and user.has_perm(APPROVE_PLAYBOOK, playbook))


def denial_reason(user: Any, request: ApprovalRequest) -> str:
    """Return why the user may not decide the request, or "" when they may."""
    if not (user.is_authenticated and user.is_active):
        return "log in with an active account to decide approval requests"
    if not may_approve_playbook(user, request.playbook):
        return (
            f"you may not decide requests of playbook {request.playbook.name!r}; "
            "ask an administrator for the approve permission on it"
        )
    if request.run.started_by_id == user.pk:
        return (
            f"you started run {request.run_id}, so another person must decide "
            "its approval requests"
        )
    return ""


def visible_requests(user: Any) -> QuerySet[ApprovalRequest]:
    """Return the requests the user may see: all of them, or their playbooks'."""
    requests = ApprovalRequest.objects.all()
    if not (user.is_authenticated and user.is_active):
        return requests.none()
    if user.has_perm(VIEW_ANY) or may_decide_all(user):
        return requests
    return requests.filter(approvable_playbook_ids(user))


def may_see_inbox(user: Any) -> bool:
    """Return whether the user may open the inbox at all."""
    if not (user.is_authenticated and user.is_active):
        return False
    if user.has_perm(VIEW_ANY) or may_decide_all(user):
        return True
    return Playbook.objects.filter(approvable_playbook_ids(user, "id")).exists()


def decidable_pending_count(user: Any) -> int:
    """Count the pending requests the user may decide, in one COUNT query.

    The user's global permissions come from Django's per-user cache, which
    the page has usually filled already. A user without a global permission
    pays the same one query, which then finds their object permissions.
    """
    pending = ApprovalRequest.objects.filter(status="pending")
    if not (user.is_authenticated and user.is_active):
        return 0
    if not may_decide_all(user):
        pending = pending.filter(approvable_playbook_ids(user))
    return pending.exclude(run__started_by=user).count()


def approvers(playbook: Playbook) -> QuerySet:
    """Return the active users with an email who may decide the playbook's requests.

    That is superusers, holders of either global permission (directly or
    through a group) and holders of `approve_playbook` on this playbook.
    """
    global_perms = Permission.objects.filter(
        Q(content_type__app_label="approvals", codename="decide_approvalrequest")
        | Q(content_type__app_label="playbooks", codename="approve_playbook")
    )
    content_type = ContentType.objects.get_for_model(Playbook)
    object_rule = Q(
        content_type=content_type,
        object_pk=str(playbook.pk),
        permission__codename="approve_playbook",
    )
    users_with_object_perm = UserObjectPermission.objects.filter(object_rule)
    groups_with_object_perm = GroupObjectPermission.objects.filter(object_rule)

    may_decide = (
        Q(is_superuser=True)
        | Q(user_permissions__in=global_perms)
        | Q(groups__permissions__in=global_perms)
        | Q(pk__in=users_with_object_perm.values("user_id"))
        | Q(groups__in=groups_with_object_perm.values("group_id"))
    )
    return (
        get_user_model()
        .objects.filter(may_decide, is_active=True)
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )
