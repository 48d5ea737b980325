"""Elastic Security alerts: 8.x `kibana.alert.*`, legacy 7.x `signal.*`, Defend."""

from typing import Any

from playbooks.normalizers.base import (
    SEVERITIES,
    NormalizedDetection,
    Reader,
    as_list,
    as_number,
    as_text,
    clean_sha256,
    clean_technique,
    join_user,
    lookup,
)
from playbooks.normalizers.mitre import clean_tactic

SOURCE = "elastic"

# Kibana's rule editor suggests risk scores 21, 47, 73 and 99 for low to
# critical (defaultRiskScoreBySeverity), so each band ends at one of them.
_RISK_BANDS = ((21, "low"), (47, "medium"), (73, "high"), (100, "critical"))


def normalize(document: dict) -> NormalizedDetection:
    """Map an Elastic alert; a rule name, a severity and `@timestamp` are required.

    The document may be the alert's `_source`, a search hit (`_id`, `_source`)
    or an es_archive record (`{"type": "doc", "value": {"id", "source"}}`).
    """
    source, hit_id = _unwrap(document)
    reader = Reader(SOURCE, source)
    severity, original_severity = _severity(reader)

    return NormalizedDetection(
        source=SOURCE,
        external_id=reader.external_id(
            _external_id(reader, hit_id), "kibana.alert.uuid"
        ),
        title=reader.require_text(
            "kibana.alert.rule.name",
            "signal.rule.name",
            "rule.name",
            "message",
            expected="the name of the rule that raised the alert",
        ),
        severity=severity,
        original_severity=original_severity,
        occurred=reader.timestamp(
            "kibana.alert.original_time", "signal.original_time", "@timestamp"
        ),
        hostname=reader.text("host.name", "host.hostname"),
        vendor_endpoint_id=reader.text("agent.id"),
        username=join_user(reader.text("user.domain"), reader.text("user.name")),
        command_line=reader.text("process.command_line"),
        file_path=reader.text("file.path", "process.executable"),
        file_sha256=clean_sha256(reader.get("file.hash.sha256", "process.hash.sha256")),
        mitre_tactic=_tactic(reader),
        mitre_technique=_technique(reader),
        raw=document,
    )


def _unwrap(document: dict) -> tuple[dict, str]:
    """Return the alert's source and the Elasticsearch document id, if any."""
    if isinstance(document.get("_source"), dict):
        return document["_source"], as_text(document.get("_id"))
    value = document.get("value")
    if document.get("type") == "doc" and isinstance(value, dict):
        if isinstance(value.get("source"), dict):
            return value["source"], as_text(value.get("id"))
    return document, ""


def _external_id(reader: Reader, hit_id: str) -> str:
    """Return the alert uuid, the Elasticsearch id, or a Defend alert's event.id.

    A legacy signal's source carries no id of its own, so without the hit id it
    falls back to the stable hash.
    """
    alert_id = reader.text("kibana.alert.uuid") or hit_id
    if alert_id:
        return alert_id
    if reader.get("kibana.alert.rule.name", "signal.rule") is None:
        return reader.text("event.id")
    return ""


def _severity(reader: Reader) -> tuple[str, str]:
    name = reader.text("kibana.alert.severity", "signal.rule.severity")
    if name.lower() in SEVERITIES:
        return name.lower(), name

    for path in (
        "kibana.alert.risk_score",
        "signal.rule.risk_score",
        "event.risk_score",
        "event.severity",
    ):
        score = as_number(reader.get(path))
        if score is None:
            continue
        if not 0 <= score <= 100:
            raise reader.error(path, f"{score:g} is out of range; expected 0 to 100")
        severity = next(band for top, band in _RISK_BANDS if score <= top)
        return severity, as_text(reader.get(path))

    problem = f"{name!r} is invalid" if name else "missing"
    raise reader.error(
        "kibana.alert.severity",
        f"{problem}; expected one of {', '.join(SEVERITIES)} or a risk score "
        "from 0 to 100",
    )


def _threats(reader: Reader) -> list[Any]:
    """Return the rule's ATT&CK entries, or the ECS `threat` of a Defend alert."""
    entries = as_list(reader.get("kibana.alert.rule.threat", "signal.rule.threat"))
    if not entries:
        entries = as_list(reader.get("threat"))
    return [entry for entry in entries if isinstance(entry, dict)]


def _tactic(reader: Reader) -> str:
    for entry in _threats(reader):
        tactic = clean_tactic(lookup(entry, "tactic.name"), lookup(entry, "tactic.id"))
        if tactic:
            return tactic
    return ""


def _technique(reader: Reader) -> str:
    for entry in _threats(reader):
        for technique in as_list(lookup(entry, "technique")):
            found = _technique_id(technique)
            if found:
                return found
    return ""


def _technique_id(technique: Any) -> str:
    """Return a technique's first sub-technique id, else its own id."""
    if not isinstance(technique, dict):
        return ""
    for sub_technique in as_list(lookup(technique, "subtechnique")):
        if isinstance(sub_technique, dict):
            found = clean_technique(lookup(sub_technique, "id"))
            if found:
                return found
    return clean_technique(lookup(technique, "id"))
