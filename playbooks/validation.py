"""Checks run when a playbook or a step is saved, reported per field."""

import zoneinfo
from typing import Any

import jsonschema
from croniter import croniter

from endpoints.choices import EndpointStatus
from playbooks.actions import get_action
from playbooks.choices import TriggerType
from playbooks.context import template_errors


def trigger_config_errors(trigger_type: str, config: Any) -> list[str]:
    """Return what is wrong with a trigger's settings."""
    if not isinstance(config, dict):
        return ["must be a JSON object"]
    if trigger_type == TriggerType.ENDPOINT_STATUS:
        return _status_config_errors(config)
    if trigger_type == TriggerType.SCHEDULE:
        return _schedule_config_errors(config)
    if config:
        return [f"a {trigger_type} trigger takes no settings; use {{}}"]
    return []


def _status_config_errors(config: dict[str, Any]) -> list[str]:
    errors = []
    unknown = set(config) - {"from", "to", "for_minutes"}
    if unknown:
        errors.append(f"unknown keys {sorted(unknown)}; use from, to, for_minutes")
    for key in ("from", "to"):
        statuses = config.get(key, [])
        if not isinstance(statuses, list) or not all(
            status in EndpointStatus.values for status in statuses
        ):
            errors.append(
                f"{key} must be a list of statuses from "
                f"{', '.join(EndpointStatus.values)}; empty for any"
            )
    minutes = config.get("for_minutes", 0)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0:
        errors.append("for_minutes must be a whole number of minutes, 0 or more")
    return errors


def _schedule_config_errors(config: dict[str, Any]) -> list[str]:
    has_interval = "interval_minutes" in config
    has_cron = "cron" in config
    if has_interval == has_cron:
        return ['set either "interval_minutes" or "cron" (with "timezone")']
    if has_interval:
        minutes = config["interval_minutes"]
        if set(config) != {"interval_minutes"}:
            return ["an interval schedule takes only interval_minutes"]
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
            return ["interval_minutes must be a whole number of minutes, 1 or more"]
        return []

    errors = []
    if set(config) - {"cron", "timezone"}:
        errors.append("a cron schedule takes only cron and timezone")
    if not isinstance(config["cron"], str) or not croniter.is_valid(config["cron"]):
        errors.append(
            f"invalid cron expression {config['cron']!r}; use five fields such as "
            '"30 2 * * *"'
        )
    zone = config.get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(str(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(
            f"unknown time zone {zone!r}; use an IANA name such as Europe/Berlin"
        )
    return errors


def step_errors(action_name: str, parameters: Any) -> dict[str, list[str]]:
    """Return the errors of a step's action and parameters, by field name."""
    try:
        action = get_action(action_name)
    except KeyError:
        return {"action": [f"unknown action {action_name!r}"]}

    errors = template_errors(parameters)
    if errors:
        return {"parameters": errors}
    validator = jsonschema.Draft202012Validator(action.parameters_schema)
    problems = [
        f"{'/'.join(str(part) for part in error.path) or 'parameters'}: {error.message}"
        for error in validator.iter_errors(parameters)
    ]
    return {"parameters": problems} if problems else {}
