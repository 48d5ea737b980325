"""Okta System Log events, which Okta event hooks and forwarders post as generic."""

from playbooks.normalizers.base import NormalizedDetection, Reader, as_text

# Okta's `severity` is a log level, not a threat rating; this is the nearest
# threat severity for each level.
_LEVELS = {"debug": "low", "info": "low", "warn": "medium", "error": "high"}

# The login Okta reports for an actor that is not a user, such as an IP address.
_UNKNOWN = "unknown"


def normalize(reader: Reader) -> NormalizedDetection:
    """Map an Okta event; `eventType`, `published` and `severity` are required.

    Keys are read case-insensitively, because some forwarders lower-case them
    (`eventtype`, `displaymessage`).
    """
    event_type = reader.require_text(
        "eventType", expected="the Okta event type, e.g. user.session.start"
    )
    level = reader.require_text("severity", expected="DEBUG, INFO, WARN or ERROR")
    severity = _LEVELS.get(level.lower())
    if severity is None:
        raise reader.error(
            "severity", f"{level!r} is invalid; expected DEBUG, INFO, WARN or ERROR"
        )

    display_message = reader.text("displayMessage")
    return NormalizedDetection(
        source=reader.source,
        external_id=reader.external_id(reader.text("uuid"), "uuid"),
        title=f"{display_message} ({event_type})" if display_message else event_type,
        severity=severity,
        original_severity=level,
        occurred=reader.timestamp("published"),
        hostname="",
        vendor_endpoint_id=reader.text("device.id"),
        username=_username(reader),
        command_line="",
        file_path="",
        file_sha256="",
        mitre_tactic="",
        mitre_technique="",
        raw=reader.document,
    )


def _username(reader: Reader) -> str:
    """Return the actor's login, or "" when the actor is not a user.

    ThreatInsight events have an IP address as actor, with login "unknown".
    """
    if reader.text("actor.type").lower() not in ("user", ""):
        return ""
    login = reader.text("actor.alternateId")
    return "" if login.lower() == _UNKNOWN else as_text(login)
