"""Playbook conditions: (field path, operator, value) checks on an event.

A condition such as `{"field": "detection.severity", "operator": "gte",
"value": "high"}` is checked against the event's flat field values. The same
conditions select a scheduled playbook's endpoints as one database query.
"""

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from playbooks.choices import SEVERITY_RANK, ConditionMode, TriggerType

DETECTION_FIELDS = (
    "source",
    "external_id",
    "title",
    "severity",
    "original_severity",
    "occurred",
    "hostname",
    "vendor_endpoint_id",
    "username",
    "command_line",
    "file_path",
    "file_sha256",
    "mitre_tactic",
    "mitre_technique",
)
ENDPOINT_FIELDS = (
    "id",
    "hostname",
    "fqdn",
    "platform",
    "os_name",
    "os_version",
    "agent_version",
    "machine_id",
    "source",
    "source_id",
    "status",
    "status_changed",
    "last_seen",
    "enrolled",
    "contained",
    "legal_hold",
    "tags",
)
USER_FIELDS = ("id", "username", "domain", "name", "logged_in", "last_seen")
STATUS_CHANGE_FIELDS = ("old_status", "new_status", "reason", "at")

FIELDS: dict[str, tuple[str, ...]] = {
    "detection": DETECTION_FIELDS,
    "endpoint": ENDPOINT_FIELDS,
    "user": USER_FIELDS,
    "status_change": STATUS_CHANGE_FIELDS,
}
# The parts of an event each trigger provides.
ROOTS_BY_TRIGGER: dict[str, tuple[str, ...]] = {
    TriggerType.DETECTION: ("detection", "endpoint", "user"),
    TriggerType.ENDPOINT_STATUS: ("status_change", "endpoint"),
    TriggerType.SCHEDULE: ("endpoint",),
    TriggerType.MANUAL: ("endpoint", "user"),
}
DATETIME_FIELDS = frozenset(
    {
        "detection.occurred",
        "endpoint.status_changed",
        "endpoint.last_seen",
        "endpoint.enrolled",
        "user.last_seen",
        "status_change.at",
    }
)
OPERATORS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "startswith",
    "endswith",
    "regex",
    "gte",
    "lte",
    "exists",
)
_RELATIVE_TIME = re.compile(r"^now(?:([+-])(\d+)([mhdw]))?$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class ConditionError(ValueError):
    """A condition that cannot be checked; `index` is its place in the list."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"condition {index + 1}: {message}")
        self.index = index


def parse_time(value: Any, now: dt.datetime) -> dt.datetime:
    """Parse `now`, `now-30d`, `now+2h` or an ISO 8601 time with an offset."""
    text = str(value).strip()
    relative = _RELATIVE_TIME.match(text)
    if relative:
        sign, amount, unit = relative.groups()
        if not sign:
            return now
        delta = dt.timedelta(**{_UNITS[unit]: int(amount)})
        return now + delta if sign == "+" else now - delta

    parsed = parse_datetime(text)
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(
            f"invalid time {text!r}; use now, now-30d (m, h, d, w) or an ISO 8601 "
            "time with an offset such as 2026-01-31T08:00:00Z"
        )
    return parsed


def validate_conditions(conditions: Any, trigger_type: str) -> list[ConditionError]:
    """Return every problem in `conditions` for a playbook with this trigger."""
    if not isinstance(conditions, list):
        return [ConditionError(0, "conditions must be a list of objects")]
    roots = ROOTS_BY_TRIGGER.get(trigger_type, ())
    errors = []
    for index, condition in enumerate(conditions):
        try:
            _validate_one(condition, roots)
        except ValueError as error:
            errors.append(ConditionError(index, str(error)))
    return errors


def _validate_one(condition: Any, roots: tuple[str, ...]) -> None:
    if not isinstance(condition, dict):
        raise ValueError('expected an object {"field", "operator", "value"}')
    unknown_keys = set(condition) - {"field", "operator", "value"}
    if unknown_keys:
        raise ValueError(f"unknown keys {sorted(unknown_keys)}")

    path = condition.get("field")
    root, _, name = str(path).partition(".")
    if root not in roots or name not in FIELDS[root]:
        known = [f"{r}.{f}" for r in roots for f in FIELDS[r]]
        raise ValueError(
            f"unknown field path {path!r}; this trigger provides {', '.join(known)}"
        )

    operator = condition.get("operator")
    if operator not in OPERATORS:
        raise ValueError(
            f"unknown operator {operator!r}; use one of {', '.join(OPERATORS)}"
        )

    value = condition.get("value")
    if operator == "exists":
        if value is not None and not isinstance(value, bool):
            raise ValueError("exists takes true, false or no value")
    elif "value" not in condition:
        raise ValueError(f"operator {operator} needs a value")
    elif operator in ("in", "not_in") and not isinstance(value, list):
        raise ValueError(f"operator {operator} needs a list value")
    elif operator == "regex":
        try:
            re.compile(str(value))
        except re.error as error:
            raise ValueError(f"invalid regex {value!r}: {error}") from None
    elif operator in ("gte", "lte"):
        _comparable(str(path), value, dt.datetime.now(dt.UTC))


def _comparable(path: str, value: Any, now: dt.datetime) -> Any:
    """Convert a gte/lte value to the type of the field it is compared with."""
    if path in DATETIME_FIELDS:
        return parse_time(value, now)
    if path == "detection.severity":
        if value not in SEVERITY_RANK:
            raise ValueError(
                f"invalid severity {value!r}; use low, medium, high or critical"
            )
        return SEVERITY_RANK[value]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"gte and lte need a number or a time, not {value!r}")
    return value


def matches(
    conditions: list[dict[str, Any]],
    mode: str,
    event: dict[str, dict[str, Any] | None],
    now: dt.datetime,
) -> bool:
    """Return whether the event meets all (or any) of the conditions.

    An empty list always matches. `event` maps roots such as `detection` to
    their field values; a missing root (no endpoint matched) has no fields.
    """
    if not conditions:
        return True
    results = (check(condition, event, now) for condition in conditions)
    return all(results) if mode == ConditionMode.ALL else any(results)


def check(
    condition: dict[str, Any], event: dict[str, dict[str, Any] | None], now: dt.datetime
) -> bool:
    """Check one condition against the event's field values."""
    path = condition["field"]
    root, _, name = path.partition(".")
    actual = (event.get(root) or {}).get(name)
    operator = condition["operator"]
    value: Any = condition.get("value")

    if operator == "exists":
        present = actual not in (None, "", [])
        return present if value is None else present is value
    if operator == "ne":
        return actual != value
    if operator == "not_in":
        return actual not in value
    if actual is None:
        return False
    if operator == "eq":
        return actual == value
    if operator == "in":
        return actual in value
    if operator in ("gte", "lte"):
        return _compare(path, operator, actual, value, now)
    if operator == "regex":
        return re.search(str(value), str(actual)) is not None
    return _match_text(operator, actual, str(value))


def _compare(
    path: str, operator: str, actual: Any, value: Any, now: dt.datetime
) -> bool:
    expected = _comparable(path, value, now)
    if path == "detection.severity":
        actual = SEVERITY_RANK.get(actual, 0)
    try:
        return actual >= expected if operator == "gte" else actual <= expected
    except TypeError:
        return False


def _match_text(operator: str, actual: Any, value: str) -> bool:
    """contains, startswith and endswith ignore case; a list contains an item."""
    if isinstance(actual, list):
        return operator == "contains" and value in actual
    text, value = str(actual).casefold(), value.casefold()
    if operator == "contains":
        return value in text
    if operator == "startswith":
        return text.startswith(value)
    return text.endswith(value)


def endpoint_filter(
    conditions: Iterable[dict[str, Any]], mode: str, now: dt.datetime
) -> Q:
    """Build the query that selects the endpoints meeting endpoint conditions."""
    parts = [_endpoint_q(condition, now) for condition in conditions]
    if not parts:
        return Q()
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part if mode == ConditionMode.ALL else combined | part
    return combined


def _endpoint_q(condition: dict[str, Any], now: dt.datetime) -> Q:
    path = condition["field"]
    name = path.partition(".")[2]
    operator = condition["operator"]
    value = condition.get("value")
    column = "tags__name" if name == "tags" else name

    if operator == "exists":
        present = ~Q(**{f"{column}__isnull": True})
        if name not in ("tags",) and path not in DATETIME_FIELDS:
            present &= ~Q(**{column: ""})
        return present if value is not False else ~present
    if operator in ("gte", "lte"):
        return Q(**{f"{column}__{operator}": _comparable(path, value, now)})
    if name == "tags" and operator == "contains":
        return Q(tags__name=value)
    lookups = {
        "eq": "exact",
        "ne": "exact",
        "in": "in",
        "not_in": "in",
        "contains": "icontains",
        "startswith": "istartswith",
        "endswith": "iendswith",
        "regex": "regex",
    }
    q = Q(**{f"{column}__{lookups[operator]}": value})
    return ~q if operator in ("ne", "not_in") else q
