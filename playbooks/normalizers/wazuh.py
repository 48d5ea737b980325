"""Wazuh alerts: one line of the manager's alerts.json, as integrations post it."""

import re

from playbooks.normalizers.base import (
    NormalizedDetection,
    Reader,
    as_list,
    clean_sha256,
    first_technique,
    join_user,
)
from playbooks.normalizers.mitre import clean_tactic

SOURCE = "wazuh"

# The bands of the Wazuh 4.x dashboard's "Last 24 hours alerts" panel: rule
# level 0 to 6 low, 7 to 11 medium, 12 to 14 high, 15 critical.
_LEVEL_BANDS = ((6, "low"), (11, "medium"), (14, "high"), (15, "critical"))

_EVENTDATA = "data.win.eventdata"

# Wazuh's eventchannel decoder escapes backslashes and quotes inside Windows event
# fields, so `DOMAIN\user` arrives as `DOMAIN\\user` after JSON decoding.
_ESCAPED = re.compile(r"\\([\\\"])")

# Windows writes "-" in event fields that have no value.
_WINDOWS_EMPTY = "-"


def normalize(document: dict) -> NormalizedDetection:
    """Map a Wazuh alert; `id`, `timestamp` and `rule.level` are required."""
    reader = Reader(SOURCE, document)
    alert_id = reader.require_text("id", expected='the alert id, e.g. "1755074541.1"')
    severity, original_severity = _severity(reader)

    return NormalizedDetection(
        source=SOURCE,
        external_id=reader.external_id(_external_id(reader, alert_id), "id"),
        title=_title(reader),
        severity=severity,
        original_severity=original_severity,
        occurred=reader.timestamp("timestamp"),
        hostname=reader.text(
            "agent.name", "data.win.system.computer", "predecoder.hostname"
        ),
        vendor_endpoint_id=reader.text("agent.id"),
        username=_username(reader),
        command_line=_windows_text(reader, "commandLine")
        or reader.text("data.command"),
        file_path=_windows_text(reader, "targetFilename", "image")
        or reader.text("syscheck.path"),
        file_sha256=_sha256(reader),
        mitre_tactic=clean_tactic(*as_list(reader.get("rule.mitre.tactic"))),
        mitre_technique=first_technique(reader.get("rule.mitre.id")),
        raw=document,
    )


def _external_id(reader: Reader, alert_id: str) -> str:
    """Return `<manager.name>:<id>`, because `id` is unique per manager only.

    The id is the alert's epoch second and its byte offset in alerts.json, so two
    managers can produce the same one.
    """
    manager = reader.text("manager.name")
    return f"{manager}:{alert_id}" if manager else alert_id


def _title(reader: Reader) -> str:
    description = reader.text("rule.description")
    if description:
        return description
    rule_id = reader.require_text(
        "rule.description", "rule.id", expected="the rule description or rule id"
    )
    return f"Wazuh rule {rule_id}"


def _severity(reader: Reader) -> tuple[str, str]:
    text = reader.require_text("rule.level", expected="a rule level from 0 to 15")
    if not text.isdigit() or int(text) > 15:
        raise reader.error(
            "rule.level", f"{text!r} is invalid; expected an integer from 0 to 15"
        )
    level = int(text)
    severity = next(name for top, name in _LEVEL_BANDS if level <= top)
    return severity, text


def _windows_text(reader: Reader, *fields: str) -> str:
    """Return the first of `data.win.eventdata.<field>` that is set, unescaped."""
    for field in fields:
        text = _ESCAPED.sub(r"\1", reader.text(f"{_EVENTDATA}.{field}"))
        if text and text != _WINDOWS_EMPTY:
            return text
    return ""


def _username(reader: Reader) -> str:
    """Return the account the alert is about.

    Sysmon reports `user` as `DOMAIN\\name`. Security events split the name from
    the domain; the target account (the one logged on) comes before the subject
    (the one that acted). Linux decoders report `srcuser` and `dstuser`, and
    file integrity events in who-data mode report the audit login user (the
    person behind a sudo) before the effective user.
    """
    sysmon_user = _windows_text(reader, "user")
    if sysmon_user:
        return sysmon_user
    for role in ("target", "subject"):
        name = _windows_text(reader, f"{role}UserName")
        if name:
            return join_user(_windows_text(reader, f"{role}DomainName"), name)
    return reader.text(
        "data.srcuser",
        "data.dstuser",
        "syscheck.audit.login_user.name",
        "syscheck.audit.user.name",
    )


def _sha256(reader: Reader) -> str:
    """Read SHA256= from Sysmon's packed `hashes`, else the FIM `sha256_after`."""
    for part in _windows_text(reader, "hashes").split(","):
        algorithm, _, value = part.partition("=")
        if algorithm.strip().upper() == "SHA256":
            return clean_sha256(value)
    return clean_sha256(reader.get("syscheck.sha256_after"))
