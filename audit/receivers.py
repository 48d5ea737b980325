"""Signal receivers that turn what happens in Exec into timeline events.

Domain events come from `exec_site.events.record_event`; configuration
changes from django-auditlog's LogEntry rows; logins from Django's auth
signals. Each receiver appends in the sender's transaction.
"""

import logging
from typing import Any

from auditlog.models import LogEntry
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.http import HttpRequest

from audit import choices
from audit.chain import EventData, append_event, subject_fields

logger = logging.getLogger(__name__)

ACTION_NAMES = {
    LogEntry.Action.CREATE: "create",
    LogEntry.Action.UPDATE: "update",
    LogEntry.Action.DELETE: "delete",
    LogEntry.Action.ACCESS: "access",
}
MAX_USERNAME_LENGTH = 150
# Read through the app registry: the playbooks app may have no models yet.
STEP_MODEL: str = "playbooks.Step"


def store_recorded_event(
    sender: Any,
    *,
    kind: str,
    summary: str,
    actor: Any = None,
    subject: Model | None = None,
    endpoint_id: int | None = None,
    playbook_id: int | None = None,
    playbook_version: int | None = None,
    run_id: int | None = None,
    details: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Store an event sent through `exec_site.events.event_recorded`."""
    append_event(
        EventData(
            kind=kind,
            summary=summary,
            actor=actor,
            endpoint_id=endpoint_id,
            playbook_id=playbook_id,
            playbook_version=playbook_version,
            run_id=run_id,
            details=details or {},
            **subject_fields(subject),
        )
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _step_playbook_id(entry: LogEntry) -> int | None:
    """Return the playbook of a Step that a log entry is about.

    On create and delete auditlog lists every field, the playbook's pk among
    them; on update the step still exists and is read.
    """
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    values = changes.get("playbook")
    if isinstance(values, list):
        for value in values:
            if _int_or_none(value) is not None:
                return _int_or_none(value)
    try:
        step_model = apps.get_model(STEP_MODEL)
    except LookupError:
        return None
    return (
        step_model._default_manager.filter(pk=entry.object_pk)
        .values_list("playbook_id", flat=True)
        .first()
    )


def _scope(entry: LogEntry, label: str) -> dict[str, int | None]:
    """Return the endpoint and playbook ids a configuration change is about."""
    if label == "endpoints.endpoint":
        return {"endpoint_id": _int_or_none(entry.object_pk)}
    if label == "playbooks.playbook":
        return {"playbook_id": _int_or_none(entry.object_pk)}
    if label == "playbooks.step":
        return {"playbook_id": _step_playbook_id(entry)}
    return {}


def store_config_change(
    sender: type[LogEntry], instance: LogEntry, created: bool, **kwargs: Any
) -> None:
    """Append a `config.changed` event for every new auditlog entry.

    The LogEntry row stays as auditlog wrote it; the event copies the change
    into the chain, so the timeline is one table. Masked and excluded fields
    stay masked and excluded, because the event copies auditlog's `changes`.
    """
    if not created:
        return
    content_type = ContentType.objects.get_for_id(instance.content_type_id)
    label = f"{content_type.app_label}.{content_type.model}"
    action = ACTION_NAMES.get(instance.action, str(instance.action))
    actor = instance.actor if instance.actor_id else choices.SYSTEM
    append_event(
        EventData(
            kind=choices.CONFIG_CHANGED,
            summary=f"{action.capitalize()} {content_type.name} {instance.object_repr}",
            actor=actor,
            content_type=content_type,
            object_id=instance.object_pk,
            object_repr=instance.object_repr,
            details={
                "model": label,
                "action": action,
                "changes": instance.changes or {},
                "log_entry_id": instance.pk,
                "remote_addr": instance.remote_addr,
            },
            **_scope(instance, label),
        )
    )


def _client_ip(request: HttpRequest | None) -> str | None:
    # REMOTE_ADDR only: a forwarded-for header is set by the client unless a
    # trusted proxy rewrites it, and Exec does not know which proxies to trust.
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR")


def store_login(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    append_event(
        EventData(
            kind=choices.LOGIN,
            summary=f"{user.get_username()} logged in",
            actor=user,
            details={"ip": _client_ip(request)},
            **subject_fields(user),
        )
    )


def store_logout(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    if user is None or not user.is_authenticated:
        return
    append_event(
        EventData(
            kind=choices.LOGOUT,
            summary=f"{user.get_username()} logged out",
            actor=user,
            details={"ip": _client_ip(request)},
            **subject_fields(user),
        )
    )


def store_login_failure(
    sender: Any,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    """Record a failed login with the username tried and the client address.

    Only the username is read from `credentials`; the password is never
    stored, not even in Django's masked form.
    """
    username_field = get_user_model().USERNAME_FIELD
    username = str(credentials.get(username_field) or "")[:MAX_USERNAME_LENGTH]
    ip = _client_ip(request)
    logger.info("login failed username=%r ip=%s", username, ip)
    append_event(
        EventData(
            kind=choices.LOGIN_FAILED,
            summary=f"Failed login for {username or '(no username)'}",
            actor=choices.ANONYMOUS,
            details={"username": username, "ip": ip},
        )
    )
