"""Notification actions for the run engine: Slack messages and signed webhooks.

They live here rather than in `connectors`, because `connectors` sits below
`playbooks` and must not import it; the senders themselves are in
`connectors.notify`.
"""

import uuid
from typing import Any, ClassVar

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from connectors.actions import mark_broken
from connectors.choices import ConnectorKind
from connectors.models import Connector
from connectors.notify import DeliveryError, send_slack, send_webhook
from playbooks.actions.base import (
    Action,
    ActionContext,
    PermanentError,
    TransientError,
    register,
)

_templates = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def template_values(context: ActionContext) -> dict[str, Any]:
    """Return the names a message template may use."""
    playbook = getattr(context.run, "playbook", None)
    return {
        "run_id": getattr(context.run, "pk", None),
        "playbook": getattr(playbook, "name", "") or str(playbook or ""),
        "endpoint": getattr(context.endpoint, "hostname", "") or "",
        "user": getattr(context.endpoint_user, "username", "") or "",
        "detection": str(context.detection) if context.detection is not None else "",
        "now": context.now.isoformat() if context.now is not None else "",
    }


def render_message(template: str, context: ActionContext) -> str:
    """Render the `message` parameter; a bad template fails the step, named."""
    try:
        return _templates.from_string(template).render(template_values(context))
    except TemplateError as error:
        names = ", ".join(sorted(template_values(context)))
        raise PermanentError(
            f"message template is invalid: {error}; it may use {names}"
        ) from None


def notification_connector(name: str, kind: ConnectorKind) -> Connector:
    connector = Connector.objects.filter(name=name).first()
    if connector is None or connector.kind != kind:
        raise PermanentError(f"no {kind.label} connector named {name!r}")
    if not connector.enabled:
        raise PermanentError(f"connector {name!r} is disabled; enable it")
    return connector


def _schema(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "connector": {"type": "string", "minLength": 1},
            "message": {
                "type": "string",
                "minLength": 1,
                "description": "Jinja template; may use run_id, playbook, "
                "endpoint, user, detection and now.",
            },
            **extra,
        },
        "required": ["connector", "message"],
        "additionalProperties": False,
    }


@register
class NotifySlack(Action):
    name = "notify.slack"
    label = "Send a Slack message"
    parameters_schema: ClassVar[dict[str, Any]] = _schema({})
    # Slack has no way to drop a duplicate, so a lost worker must not resend.
    idempotent = False

    def execute(self, context: ActionContext) -> dict[str, Any]:
        connector = notification_connector(
            context.parameters["connector"], ConnectorKind.SLACK
        )
        text = render_message(context.parameters["message"], context)
        try:
            send_slack(connector, text)
        except DeliveryError as error:
            if error.transient:
                raise TransientError(str(error)) from None
            mark_broken(connector, str(error))
            raise PermanentError(str(error)) from None
        return {"outcome": "done", "connector_id": connector.pk, "text": text}


@register
class NotifyWebhook(Action):
    name = "notify.webhook"
    label = "Send a signed webhook"
    parameters_schema: ClassVar[dict[str, Any]] = _schema(
        {"event_type": {"type": "string", "default": "exec.notification"}}
    )
    # The webhook-id is derived from the step, so a repeated delivery carries
    # the same id and the receiver drops it.
    idempotent = True

    def execute(self, context: ActionContext) -> dict[str, Any]:
        connector = notification_connector(
            context.parameters["connector"], ConnectorKind.WEBHOOK
        )
        text = render_message(context.parameters["message"], context)
        step_id = getattr(context.step_run, "pk", None)
        message_id = (
            f"msg_exec_step_{step_id}"
            if step_id is not None
            else f"msg_{uuid.uuid4().hex}"
        )
        values = template_values(context)
        data = {
            "message": text,
            "run_id": values["run_id"],
            "endpoint": values["endpoint"],
            "user": values["user"],
        }
        event_type = context.parameters.get("event_type") or "exec.notification"
        try:
            status = send_webhook(connector, event_type, data, message_id=message_id)
        except DeliveryError as error:
            if error.transient:
                raise TransientError(str(error)) from None
            mark_broken(connector, str(error))
            raise PermanentError(str(error)) from None
        except ValueError as error:
            raise PermanentError(str(error)) from None
        return {
            "outcome": "done",
            "connector_id": connector.pk,
            "webhook_id": message_id,
            "status": status,
        }
