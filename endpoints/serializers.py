"""Request and response bodies of the agent API."""

import ipaddress
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.ipv6 import clean_ipv6_address
from rest_framework import serializers

from endpoints.checkin import CheckinReport
from endpoints.choices import TASK_REPORTABLE, AgentEvent, Platform
from endpoints.users import ReportedUser, parse_username
from exec_site.jsonvalues import UNSTORABLE_MESSAGE, find_unstorable, nesting_exceeds

MAX_ADDRESSES = 256
MAX_USERS = 500


def _addresses(child: serializers.Field) -> serializers.ListField:
    return serializers.ListField(child=child, max_length=MAX_ADDRESSES, required=False)


class EnrollSerializer(serializers.Serializer):
    enrollment_token = serializers.CharField(max_length=200, write_only=True)
    hostname = serializers.CharField(max_length=255)
    fqdn = serializers.CharField(max_length=255, required=False, allow_blank=True)
    platform = serializers.ChoiceField(choices=Platform.choices)
    os_name = serializers.CharField(max_length=128)
    os_version = serializers.CharField(max_length=128)
    agent_version = serializers.CharField(max_length=32)
    machine_id = serializers.CharField(max_length=128)
    ip_addresses = _addresses(serializers.IPAddressField())
    mac_addresses = _addresses(serializers.CharField(max_length=64))


class EnrollResponseSerializer(serializers.Serializer):
    endpoint_id = serializers.IntegerField()
    agent_token = serializers.CharField()
    checkin_interval = serializers.IntegerField(help_text="Seconds.")


class ReportedUserSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=255)
    logged_in = serializers.BooleanField(default=True)

    def validate_username(self, value: str) -> str:
        if not parse_username(value)[1]:
            raise serializers.ValidationError(
                f"{value!r} has no account name; send DOMAIN\\name, name@domain "
                "or name."
            )
        return value


class CheckinSerializer(serializers.Serializer):
    agent_version = serializers.CharField(max_length=32, required=False)
    hostname = serializers.CharField(max_length=255, required=False)
    os_version = serializers.CharField(max_length=128, required=False)
    ip_addresses = _addresses(serializers.IPAddressField())
    mac_addresses = _addresses(serializers.CharField(max_length=64))
    users = serializers.ListField(
        child=ReportedUserSerializer(), max_length=MAX_USERS, required=False
    )
    event = serializers.ChoiceField(
        choices=AgentEvent.choices, allow_null=True, required=False
    )

    def to_report(self) -> CheckinReport:
        data: dict[str, Any] = dict(self.validated_data)
        users = data.pop("users", None)
        event = data.pop("event", None)
        return CheckinReport(
            facts=data,
            users=None
            if users is None
            else [ReportedUser(user["username"], user["logged_in"]) for user in users],
            event=event,
        )


# The plain text fields of a check-in body, with their maximum lengths.
CHECKIN_TEXT_FIELDS = {
    name: field.max_length
    for name, field in CheckinSerializer().fields.items()
    if type(field) is serializers.CharField
}


def fast_checkin_report(data: Any) -> CheckinReport | None:
    """Read a check-in body that CheckinSerializer would accept unchanged.

    Every endpoint checks in once a minute, and the serializer's validation
    took about a third of a steady-state check-in's CPU in the Django
    process. This returns the report the serializer would build, or None
    for anything unusual: a missing or wrong type, a value the serializer
    would change (surrounding whitespace, a non-canonical IPv6 address), or
    a value it would reject. The caller then runs the serializer, so that
    its messages explain every error.
    """
    if not isinstance(data, dict):
        return None

    facts: dict[str, Any] = {}
    for name, max_length in CHECKIN_TEXT_FIELDS.items():
        if name in data:
            if not _is_plain_text(data[name], max_length):
                return None
            facts[name] = data[name]

    for name, is_valid in (
        ("ip_addresses", _is_canonical_ip),
        ("mac_addresses", lambda value: _is_plain_text(value, 64)),
    ):
        if name in data:
            values = data[name]
            if not _is_short_list(values, MAX_ADDRESSES):
                return None
            if not all(is_valid(value) for value in values):
                return None
            facts[name] = values

    users = None
    if "users" in data:
        users = _fast_users(data["users"])
        if users is None:
            return None

    event = data.get("event")
    if event is not None and event not in AgentEvent.values:
        return None
    return CheckinReport(facts=facts, users=users, event=event)


def _is_plain_text(value: Any, max_length: int) -> bool:
    # isprintable() is False for NUL, surrogates and other control characters.
    return (
        type(value) is str
        and 0 < len(value) <= max_length
        and value.isprintable()
        and value == value.strip()
    )


def _is_short_list(value: Any, max_length: int) -> bool:
    return type(value) is list and len(value) <= max_length


def _is_canonical_ip(value: Any) -> bool:
    if not _is_plain_text(value, 45):
        return False
    try:
        if ":" in value:
            # IPAddressField stores IPv6 compressed and lowercase, and an
            # IPv4-mapped address as plain IPv4.
            return clean_ipv6_address(value, unpack_ipv4=True) == value
        return str(ipaddress.IPv4Address(value)) == value
    except (DjangoValidationError, ValueError):
        return False


def _fast_users(value: Any) -> list[ReportedUser] | None:
    if not _is_short_list(value, MAX_USERS):
        return None
    users = []
    for entry in value:
        if type(entry) is not dict:
            return None
        username = entry.get("username")
        logged_in = entry.get("logged_in", True)
        if type(logged_in) is not bool or not _is_plain_text(username, 255):
            return None
        if not parse_username(username)[1]:
            return None
        users.append(ReportedUser(username, logged_in))
    return users


class AgentTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    parameters = serializers.JSONField()
    expires = serializers.DateTimeField()


class CheckinResponseSerializer(serializers.Serializer):
    checkin_interval = serializers.IntegerField(help_text="Seconds.")
    tasks = AgentTaskSerializer(many=True)


# Task results are summaries, a few levels deep. The limit keeps them
# renderable, because json.dumps, which the admin uses to show a result,
# recurses once per level.
MAX_RESULT_DEPTH = 32


class TaskResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=sorted(TASK_REPORTABLE))
    result = serializers.JSONField(required=False, allow_null=True, default=None)
    error = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=65536
    )

    def validate_result(self, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError(
                f"Expected a JSON object or null, got {type(value).__name__}."
            )
        if nesting_exceeds(value, MAX_RESULT_DEPTH):
            raise serializers.ValidationError(
                f"Nested deeper than {MAX_RESULT_DEPTH} levels; flatten the result."
            )
        path = find_unstorable(value)
        if path is not None:
            raise serializers.ValidationError(f"Field {path!r} {UNSTORABLE_MESSAGE}.")
        return value


class TaskResultResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
