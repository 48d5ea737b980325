"""The starter playbooks a new installation gets, and the loader that adds them.

Each is ordinary configuration: the loader creates a playbook only when none
of that name exists, so an operator's edits are never overwritten.
"""

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from exec_site.events import record_event
from playbooks.forms import PlaybookForm, StepForm
from playbooks.models import Playbook, Step

logger = logging.getLogger(__name__)

COMPROMISED_ENDPOINT = "Compromised endpoint"
WATCHED_ENDPOINT_ONLINE = "Watched endpoint back online"
SENSOR_UNINSTALLED = "Sensor uninstalled"
DECOMMISSION_STALE = "Decommission stale endpoints"

STARTER_PLAYBOOKS: list[dict[str, Any]] = [
    {
        "name": COMPROMISED_ENDPOINT,
        "description": "A high or critical detection: collect evidence from the "
        "endpoint and the file it names, then, once approved, end the user's "
        "Okta sessions and suspend the account, and tell the administrators.",
        "trigger_type": "detection",
        "trigger_config": {},
        "conditions": [
            {
                "field": "detection.severity",
                "operator": "in",
                "value": ["high", "critical"],
            }
        ],
        "target_kind": "endpoint",
        "cooldown_minutes": 0,
        "max_concurrent_runs": 0,
        "steps": [
            {
                "name": "Collect a forensics package",
                "action": "endpoint.collect_forensics",
                "parameters": {},
                # Evidence that cannot be collected should not stop containment.
                "on_failure": "continue",
            },
            {
                "name": "Collect the detected file",
                "action": "endpoint.collect_file",
                "parameters": {"path": "{{ detection.file_path }}"},
                "on_failure": "continue",
            },
            {
                "name": "Suspend the user's Okta account",
                "action": "okta.suspend",
                "parameters": {"clear_sessions": True},
                "requires_approval": True,
            },
            {
                "name": "Tell the administrators",
                "action": "notify.email",
                "parameters": {
                    "subject": "{{ playbook.name }}: {{ detection.title }} on "
                    "{{ endpoint.hostname }}",
                    "body": "Run {{ run.id }} collected evidence from "
                    "{{ endpoint.hostname }} and suspended the Okta account "
                    "chosen for {{ user.username }}.\n\nDetection: "
                    "{{ detection.source }} {{ detection.external_id }}, "
                    "{{ detection.severity }}, file {{ detection.file_path }}.",
                },
            },
        ],
    },
    {
        "name": WATCHED_ENDPOINT_ONLINE,
        "description": "An endpoint tagged investigate comes back online: "
        "collect a forensics package while it is reachable.",
        "trigger_type": "endpoint_status",
        "trigger_config": {"from": ["offline", "missing"], "to": ["online"]},
        "conditions": [
            {"field": "endpoint.tags", "operator": "contains", "value": "investigate"}
        ],
        "target_kind": "endpoint",
        "cooldown_minutes": 60,
        "max_concurrent_runs": 1,
        "steps": [
            {
                "name": "Collect a forensics package",
                "action": "endpoint.collect_forensics",
                "parameters": {},
                "on_failure": "continue",
            },
            {
                "name": "Tell the administrators",
                "action": "notify.email",
                "parameters": {
                    "subject": "{{ endpoint.hostname }} is back online",
                    "body": "{{ endpoint.hostname }}, tagged investigate, came "
                    "back online; run {{ run.id }} collected a forensics package.",
                },
            },
        ],
    },
    {
        "name": SENSOR_UNINSTALLED,
        "description": "The agent reported that it was uninstalled.",
        "trigger_type": "endpoint_status",
        "trigger_config": {"from": [], "to": ["uninstalled"]},
        "conditions": [],
        "target_kind": "endpoint",
        "cooldown_minutes": 0,
        "max_concurrent_runs": 1,
        "steps": [
            {
                "name": "Tell the administrators",
                "action": "notify.email",
                "parameters": {
                    "subject": "Exec agent uninstalled on {{ endpoint.hostname }}",
                    "body": "The agent on {{ endpoint.hostname }} reported that it "
                    "was uninstalled ({{ status_change.reason }}). If nobody "
                    "planned this, treat it as tampering.",
                },
            },
        ],
    },
    {
        "name": DECOMMISSION_STALE,
        "description": "Every day, decommission endpoints missing for more than "
        "30 days. Contained endpoints and those on legal hold are not selected.",
        "trigger_type": "schedule",
        "trigger_config": {"cron": "0 3 * * *", "timezone": "UTC"},
        "conditions": [
            {"field": "endpoint.status", "operator": "eq", "value": "missing"},
            {"field": "endpoint.last_seen", "operator": "lte", "value": "now-30d"},
            # Decommissioning refuses these, so selecting them would only fail.
            {"field": "endpoint.contained", "operator": "eq", "value": False},
            {"field": "endpoint.legal_hold", "operator": "eq", "value": False},
        ],
        "target_kind": "endpoint",
        "cooldown_minutes": 0,
        "max_concurrent_runs": 1,
        "steps": [
            {
                "name": "Decommission the endpoint",
                "action": "endpoint.decommission",
                "parameters": {"reason": "missing for more than 30 days"},
            },
        ],
    },
]


class StarterPlaybookError(Exception):
    """A starter playbook failed the admin form's checks."""


@dataclass
class LoadResult:
    """The names of the starter playbooks created, and of those left unchanged."""

    created: list[str]
    kept: list[str]


def _form_data(values: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Encode values as an admin form posts them: JSON fields as JSON text."""
    data = {}
    for name in fields:
        value = values.get(name)
        if isinstance(value, dict | list):
            value = json.dumps(value)
        data[name] = value
    return data


def playbook_form(definition: dict[str, Any]) -> PlaybookForm:
    """Return the admin's playbook form filled with a starter definition."""
    values = {"enabled": True, "condition_mode": "all"} | definition
    return PlaybookForm(data=_form_data(values, PlaybookForm.Meta.fields))


def step_form(playbook: Playbook, order: int, step: dict[str, Any]) -> StepForm:
    """Return the admin's step form filled with a starter step."""
    values = {
        "order": order,
        "requires_approval": False,
        "approval_timeout_minutes": 240,
        "timeout_seconds": 600,
        "max_attempts": 3,
        "backoff_seconds": 30,
        "on_failure": "stop",
    } | step
    # A checkbox that is not ticked is left out of the posted form.
    if not values["requires_approval"]:
        del values["requires_approval"]
    return StepForm(
        data=_form_data(values, StepForm.Meta.fields),
        instance=Step(playbook=playbook),
    )


def _create(definition: dict[str, Any]) -> Playbook:
    form = playbook_form(definition)
    if not form.is_valid():
        raise StarterPlaybookError(f"{definition['name']}: {form.errors.as_text()}")
    playbook = form.save()

    for order, step in enumerate(definition["steps"], start=1):
        step_form_ = step_form(playbook, order, step)
        if not step_form_.is_valid():
            raise StarterPlaybookError(
                f"{definition['name']}, step {order}: {step_form_.errors.as_text()}"
            )
        step_form_.save()
    return playbook


def load_starter_playbooks() -> LoadResult:
    """Create each starter playbook that has no playbook of its name yet.

    A playbook of that name, edited or not, is kept as it is. One that was
    deleted is created again, so disable a starter playbook to retire it.
    """
    result = LoadResult(created=[], kept=[])
    for definition in STARTER_PLAYBOOKS:
        with transaction.atomic():
            if Playbook.objects.filter(name=definition["name"]).exists():
                result.kept.append(definition["name"])
                continue
            playbook = _create(definition)
            record_event(
                "playbook.starter_loaded",
                f"Starter playbook {playbook.name!r} created",
                subject=playbook,
                playbook_id=playbook.pk,
                playbook_version=playbook.version,
            )
        logger.info("starter playbook created playbook_id=%s", playbook.pk)
        result.created.append(definition["name"])
    return result
