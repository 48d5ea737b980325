"""The field values of an event and the sandboxed templates of step parameters.

Conditions read these values, and step parameters may refer to them, as in
`{{ endpoint.hostname }}`. Templates run in Jinja2's sandbox with
StrictUndefined, so a misspelt variable fails when the step is saved instead
of rendering as an empty string during a run.
"""

import datetime as dt
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from endpoints.models import Endpoint, EndpointUser, StatusChange
from playbooks.conditions import (
    DETECTION_FIELDS,
    ENDPOINT_FIELDS,
    STATUS_CHANGE_FIELDS,
    USER_FIELDS,
)

_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def endpoint_values(endpoint: Endpoint | None) -> dict[str, Any] | None:
    if endpoint is None:
        return None
    values = {
        name: getattr(endpoint, name) for name in ENDPOINT_FIELDS if name != "tags"
    }
    values["tags"] = sorted(tag.name for tag in endpoint.tags.all())
    return values


def user_values(user: EndpointUser | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {name: getattr(user, name) for name in USER_FIELDS}


def detection_values(detection: Any) -> dict[str, Any] | None:
    if detection is None:
        return None
    values = {name: getattr(detection, name) for name in DETECTION_FIELDS}
    values["id"] = detection.pk
    return values


def status_change_values(change: StatusChange | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {name: getattr(change, name) for name in STATUS_CHANGE_FIELDS}


def run_values(run: Any) -> dict[str, Any]:
    """Build the template variables of a run: its target, event and playbook."""
    return {
        "run": {"id": run.pk, "trigger": run.trigger, "created": run.created},
        "playbook": {
            "id": run.playbook_id,
            "name": run.playbook.name,
            "version": run.playbook_version,
        },
        "endpoint": endpoint_values(run.endpoint),
        "user": user_values(run.endpoint_user),
        "detection": detection_values(run.detection),
        "status_change": status_change_values(run.status_change),
    }


def sample_values() -> dict[str, Any]:
    """Return placeholder values for every variable, to check templates on save."""
    now = dt.datetime.now(dt.UTC)

    def sample(names: tuple[str, ...]) -> dict[str, Any]:
        return {name: f"<{name}>" for name in names} | {"id": 1}

    return {
        "run": {"id": 1, "trigger": "manual", "created": now},
        "playbook": {"id": 1, "name": "<name>", "version": 1},
        "endpoint": sample(ENDPOINT_FIELDS) | {"tags": []},
        "user": sample(USER_FIELDS),
        "detection": sample(DETECTION_FIELDS),
        "status_change": sample(STATUS_CHANGE_FIELDS),
    }


def render_parameters(parameters: Any, values: dict[str, Any]) -> Any:
    """Render every string in `parameters` as a template; raise TemplateError."""
    if isinstance(parameters, str):
        if "{{" not in parameters and "{%" not in parameters:
            return parameters
        return _ENVIRONMENT.from_string(parameters).render(values)
    if isinstance(parameters, list):
        return [render_parameters(item, values) for item in parameters]
    if isinstance(parameters, dict):
        return {
            key: render_parameters(item, values) for key, item in parameters.items()
        }
    return parameters


def template_errors(parameters: Any) -> list[str]:
    """Return the template errors in `parameters`, such as an unknown variable."""
    try:
        render_parameters(parameters, sample_values())
    except TemplateError as error:
        return [f"invalid template: {error}"]
    return []
