"""The parts of a step an approver sees: its target, binding hash and context.

These are plain functions of the run, so the request and the check before
execution compute the binding hash the same way.
"""

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from endpoints.models import Endpoint, EndpointUser
from playbooks.models import Detection, PlaybookRun, StepRun

DETECTION_FIELDS = (
    "source",
    "external_id",
    "title",
    "severity",
    "occurred",
    "received",
    "hostname",
    "username",
    "command_line",
    "file_path",
    "file_sha256",
    "mitre_tactic",
    "mitre_technique",
)
ENDPOINT_FIELDS = (
    "hostname",
    "fqdn",
    "platform",
    "os_name",
    "os_version",
    "status",
    "last_seen",
    "ip_addresses",
    "contained",
    "legal_hold",
)


def as_json(value: Any) -> Any:
    """Return `value` with datetimes and decimals turned into JSON strings."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def target_of(run: PlaybookRun) -> dict[str, int | None]:
    return {"endpoint": run.endpoint_id, "endpoint_user": run.endpoint_user_id}


def target_label(endpoint: Endpoint | None, user: EndpointUser | None) -> str:
    if user is not None:
        host = endpoint.hostname if endpoint is not None else "an unknown endpoint"
        return f"{user.username} on {host}"
    if endpoint is not None:
        return endpoint.hostname
    return "no target"


def binding_hash(action: str, parameters: dict[str, Any], target: dict) -> str:
    """Return the SHA-256 that ties an approval to one action, parameters and target.

    Keys are sorted, so the same values always give the same hash.
    """
    document = {"action": action, "parameters": parameters, "target": target}
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _fields(instance: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {"id": instance.pk, **{name: getattr(instance, name) for name in names}}


def context_snapshot(step_run: StepRun) -> dict[str, Any]:
    """Capture the detection, the target and the steps run so far."""
    run = step_run.run
    detection: Detection | None = run.detection
    endpoint = run.endpoint
    user = run.endpoint_user
    steps = [
        {
            "order": step.order,
            "name": step.name,
            "action": step.action,
            "status": step.status,
            "error": step.error,
            "result": step.result,
        }
        for step in run.step_runs.order_by("order")
    ]
    snapshot = {
        "detection": _fields(detection, DETECTION_FIELDS) if detection else None,
        "endpoint": _fields(endpoint, ENDPOINT_FIELDS) if endpoint else None,
        "endpoint_user": (
            _fields(user, ("username", "domain", "name")) if user else None
        ),
        "run": {
            "id": run.pk,
            "trigger": run.trigger,
            "created": run.created,
            "started_by": run.started_by.username if run.started_by else None,
            "steps": steps,
        },
    }
    return as_json(snapshot)
