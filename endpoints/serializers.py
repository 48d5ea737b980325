"""Request and response bodies of the agent API."""

from typing import Any

from rest_framework import serializers

from endpoints.checkin import CheckinReport
from endpoints.choices import TASK_REPORTABLE, AgentEvent, Platform
from endpoints.users import ReportedUser, parse_username

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


class AgentTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    parameters = serializers.JSONField()
    expires = serializers.DateTimeField()


class CheckinResponseSerializer(serializers.Serializer):
    checkin_interval = serializers.IntegerField(help_text="Seconds.")
    tasks = AgentTaskSerializer(many=True)


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
        return value


class TaskResultResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
