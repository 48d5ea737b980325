"""The actions Exec ships: mail, tags, decommissioning, agent collection, wait."""

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

from endpoints.choices import TaskStatus
from endpoints.models import AgentTask, Tag
from playbooks.actions.base import (
    Action,
    ActionContext,
    PermanentError,
    TargetKind,
    TransientError,
    WaitForAgentTask,
    WaitUntil,
    register,
)

logger = logging.getLogger(__name__)


def _endpoint(context: ActionContext) -> Any:
    if context.endpoint is None:
        raise PermanentError("this step needs an endpoint, and the run has none")
    return context.endpoint


def administrator_emails() -> list[str]:
    """Return the addresses of active superusers and members of Administrators."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name="Administrators"))
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))


@register
class SendEmail(Action):
    """Send a plain-text mail through Django's configured mail backend.

    Without `recipients` the mail goes to the administrators' addresses.
    """

    name = "notify.email"
    label = "Send an email"
    idempotent = False
    parameters_schema = {
        "type": "object",
        "properties": {
            "recipients": {
                "type": "array",
                "items": {"type": "string", "minLength": 3},
                "minItems": 1,
                "description": "Addresses to mail; leave out to mail every active "
                "administrator who has an address.",
            },
            "subject": {"type": "string", "minLength": 1, "maxLength": 200},
            "body": {"type": "string"},
        },
        "required": ["subject", "body"],
        "additionalProperties": False,
    }

    def execute(self, context: ActionContext) -> dict[str, Any]:
        parameters = context.parameters
        recipients = parameters.get("recipients") or administrator_emails()
        if not recipients:
            raise PermanentError(
                "missing recipients: no active administrator has an email address; set "
                "one on an administrator's account or list recipients in the step"
            )
        try:
            sent = send_mail(
                parameters["subject"],
                parameters["body"],
                settings.DEFAULT_FROM_EMAIL,
                recipients,
            )
        except OSError as error:
            raise TransientError(f"mail server failed: {error}") from error
        logger.info("mail sent to %s recipients", len(recipients))
        return {"sent": sent, "recipients": recipients}

    def describe(self, context: ActionContext) -> str:
        recipients = ", ".join(context.parameters.get("recipients", []))
        addressees = recipients or "the administrators"
        return f"Send the mail {context.parameters.get('subject')!r} to {addressees}"


_TAG_SCHEMA = {
    "type": "object",
    "properties": {"tag": {"type": "string", "pattern": "^[-a-zA-Z0-9_{}. |]+$"}},
    "required": ["tag"],
    "additionalProperties": False,
}


@register
class AddTag(Action):
    name = "endpoint.add_tag"
    label = "Tag the endpoint"
    target_kind = TargetKind.ENDPOINT
    idempotent = True
    parameters_schema = _TAG_SCHEMA

    def execute(self, context: ActionContext) -> dict[str, Any]:
        endpoint = _endpoint(context)
        tag, _ = Tag.objects.get_or_create(name=context.parameters["tag"])
        endpoint.tags.add(tag)
        logger.info("tag %s added endpoint_id=%s", tag.name, endpoint.pk)
        return {"tag": tag.name}


@register
class RemoveTag(Action):
    name = "endpoint.remove_tag"
    label = "Remove a tag from the endpoint"
    target_kind = TargetKind.ENDPOINT
    idempotent = True
    parameters_schema = _TAG_SCHEMA

    def execute(self, context: ActionContext) -> dict[str, Any]:
        endpoint = _endpoint(context)
        tag = Tag.objects.filter(name=context.parameters["tag"]).first()
        removed = tag is not None and endpoint.tags.filter(pk=tag.pk).exists()
        if removed:
            endpoint.tags.remove(tag)
        logger.info(
            "tag %s %s endpoint_id=%s",
            context.parameters["tag"],
            "removed" if removed else "was not set",
            endpoint.pk,
        )
        return {"tag": context.parameters["tag"], "removed": removed}


@register
class Decommission(Action):
    name = "endpoint.decommission"
    label = "Decommission the endpoint"
    target_kind = TargetKind.ENDPOINT
    idempotent = False
    parameters_schema = {
        "type": "object",
        "properties": {"reason": {"type": "string", "maxLength": 500}},
        "additionalProperties": False,
    }

    def execute(self, context: ActionContext) -> dict[str, Any]:
        # Imported here: the endpoints workflow module is optional to this app.
        from endpoints.actions import DecommissionRefused, decommission_endpoint

        endpoint = _endpoint(context)
        try:
            decommission_endpoint(
                endpoint,
                actor=None,
                now=context.now,
                reason=context.parameters.get("reason", ""),
            )
        except DecommissionRefused as refusal:
            raise PermanentError(f"decommissioning was refused: {refusal}") from None
        return {"decommissioned": True}


class _CollectAction(Action):
    """Queue an agent task and finish when the agent reports its result."""

    task_type: str
    target_kind = TargetKind.ENDPOINT
    idempotent = False

    def execute(self, context: ActionContext) -> dict[str, Any]:
        endpoint = _endpoint(context)
        parameters = dict(context.parameters)
        hours = parameters.pop("expires_hours", 24)
        task = AgentTask.objects.create(
            endpoint=endpoint,
            type=self.task_type,
            parameters=parameters | {"run_id": context.run.pk},
            created=context.now,
            expires=context.now + dt.timedelta(hours=hours),
        )
        logger.info(
            "agent task %s queued task_id=%s endpoint_id=%s expires=%s",
            self.task_type,
            task.pk,
            endpoint.pk,
            task.expires.isoformat(),
        )
        raise WaitForAgentTask(task.pk)

    def resume(self, context: ActionContext) -> dict[str, Any]:
        task = context.task
        if task is None:
            raise PermanentError("the agent task of this step was deleted")
        task.refresh_from_db()
        if task.status != TaskStatus.SUCCEEDED:
            reason = task.error or f"the task ended {task.status}"
            raise PermanentError(f"agent task {task.pk} {task.status}: {reason}")
        return {"agent_task": task.pk, "result": task.result}


@register
class CollectForensics(_CollectAction):
    name = "endpoint.collect_forensics"
    label = "Collect a forensics package"
    task_type = "collect_forensics"
    parameters_schema = {
        "type": "object",
        "properties": {
            "artifacts": {"type": "array", "items": {"type": "string"}},
            "expires_hours": {"type": "integer", "minimum": 1, "maximum": 720},
        },
        "additionalProperties": False,
    }


@register
class CollectFile(_CollectAction):
    """Collect one file; a path that renders empty skips the step.

    A playbook that collects `{{ detection.file_path }}` also runs for
    detections that name no file, and those should not fail the run.
    """

    name = "endpoint.collect_file"
    label = "Collect a file"
    task_type = "collect_file"
    parameters_schema = {
        "type": "object",
        "properties": {
            "path": {
                "type": "string",
                "description": "Absolute path on the endpoint, usually "
                "{{ detection.file_path }}; when it renders empty the step "
                "succeeds as skipped and queues no task.",
            },
            "expires_hours": {"type": "integer", "minimum": 1, "maximum": 720},
        },
        "required": ["path"],
        "additionalProperties": False,
    }

    def execute(self, context: ActionContext) -> dict[str, Any]:
        if not context.parameters["path"].strip():
            logger.info("file collection skipped, no path run_id=%s", context.run.pk)
            return {"skipped": "the detection names no file"}
        return super().execute(context)


@register
class Wait(Action):
    """Pause the run without holding a worker; a timer resumes it."""

    name = "wait"
    label = "Wait"
    idempotent = True
    parameters_schema = {
        "type": "object",
        "properties": {"minutes": {"type": "integer", "minimum": 1, "maximum": 10080}},
        "required": ["minutes"],
        "additionalProperties": False,
    }

    def execute(self, context: ActionContext) -> dict[str, Any]:
        until = context.now + dt.timedelta(minutes=context.parameters["minutes"])
        raise WaitUntil(until)

    def resume(self, context: ActionContext) -> dict[str, Any]:
        return {"waited_minutes": context.parameters["minutes"]}
