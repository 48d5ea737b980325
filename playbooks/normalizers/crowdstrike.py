"""CrowdStrike Falcon detections in the four forms integrations forward.

- Streaming API events (`metadata.eventType` DetectionSummaryEvent or
  EppDetectionSummaryEvent, fields under `event`);
- Alerts API v2 entities (`composite_id`);
- SIEM connector events (flat `CompositeId`, `ExternalApiType`);
- Falcon Data Replicator events (`event_simpleName`), which a rule forwarded:
  telemetry with no severity of its own.
"""

from typing import Any

from playbooks.normalizers.base import (
    DEFAULT_SEVERITY,
    NormalizedDetection,
    Reader,
    as_number,
    as_text,
    clean_sha256,
    clean_technique,
    join_path,
    join_user,
    severity_from_score,
)
from playbooks.normalizers.mitre import clean_tactic

SOURCE = "crowdstrike"

_DETECTION_SUMMARY = "detectionsummaryevent"
_EPP_DETECTION_SUMMARY = "eppdetectionsummaryevent"

# Legacy detections rate 1 (informational) to 5 (critical).
_FIVE_POINT = {1: "low", 2: "low", 3: "medium", 4: "high", 5: "critical"}
_NAMES = {
    "informational": "low",
    "info": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}


def normalize(document: dict) -> NormalizedDetection:
    """Map a Falcon detection in any of the forms listed in the module docstring."""
    reader = Reader(SOURCE, document)
    if isinstance(document.get("metadata"), dict) and isinstance(
        document.get("event"), dict
    ):
        return _streaming(reader)
    if "composite_id" in document:
        return _alerts_api(reader)
    if "CompositeId" in document or "ExternalApiType" in document:
        return _siem_connector(reader)
    if "event_simpleName" in document:
        return _replicator(reader)
    raise reader.error(
        "metadata.eventType",
        "missing; expected a streaming API detection event, an Alerts API entity "
        "(composite_id), a SIEM connector event (CompositeId) or a Falcon Data "
        "Replicator event (event_simpleName)",
    )


def _streaming(reader: Reader) -> NormalizedDetection:
    event_type = reader.text("metadata.eventType")
    title_paths: tuple[str, ...]
    if event_type.lower() == _DETECTION_SUMMARY:
        id_path, title_paths = "event.DetectId", ("event.DetectName",)
        host_path, sensor_path = "event.ComputerName", "event.SensorId"
    elif event_type.lower() == _EPP_DETECTION_SUMMARY:
        id_path, title_paths = "event.CompositeId", ("event.IOARuleName", "event.Name")
        host_path, sensor_path = "event.Hostname", "event.AgentId"
    else:
        raise reader.error(
            "metadata.eventType",
            f"{event_type!r} is not a detection; expected DetectionSummaryEvent or "
            "EppDetectionSummaryEvent",
        )

    return _build(
        reader,
        external_id=_required_id(reader, id_path),
        id_path=id_path,
        title=reader.require_text(*title_paths, expected="the detection name"),
        severity=_severity(reader, "event.Severity", "event.SeverityName"),
        occurred=reader.timestamp("metadata.eventCreationTime"),
        hostname=reader.text(host_path),
        vendor_endpoint_id=reader.text(sensor_path),
        username=join_user(
            reader.text("event.LogonDomain"), reader.text("event.UserName")
        ),
        command_line=reader.text("event.CommandLine"),
        file_path=join_path(
            reader.text("event.FilePath"), reader.text("event.FileName")
        ),
        file_sha256=reader.get("event.SHA256String"),
        tactic=(reader.get("event.TacticId"), reader.get("event.Tactic")),
        technique=reader.get("event.TechniqueId", "event.Technique"),
    )


def _alerts_api(reader: Reader) -> NormalizedDetection:
    domain = reader.text("logon_domain")
    username = join_user(domain, reader.text("user_name"))
    return _build(
        reader,
        external_id=_required_id(reader, "composite_id"),
        id_path="composite_id",
        title=reader.require_text(
            "display_name", "name", expected="the alert's display_name or name"
        ),
        severity=_severity(reader, "severity", "severity_name"),
        occurred=reader.timestamp("timestamp", "created_timestamp"),
        hostname=reader.text("device.hostname", "source_endpoint_host_name"),
        vendor_endpoint_id=reader.text(
            "device.device_id", "agent_id", "source_endpoint_sensor_id"
        ),
        username=username or reader.text("source_account_upn", "source_account_name"),
        command_line=reader.text("cmdline"),
        file_path=reader.text("filepath"),
        file_sha256=reader.get("sha256"),
        tactic=(reader.get("tactic_id"), reader.get("tactic")),
        technique=reader.get("technique_id"),
    )


def _siem_connector(reader: Reader) -> NormalizedDetection:
    return _build(
        reader,
        external_id=_required_id(reader, "CompositeId"),
        id_path="CompositeId",
        title=reader.require_text(
            "IOARuleName", "Name", "DetectName", expected="the detection name"
        ),
        severity=_severity(reader, "Severity", "SeverityName"),
        occurred=reader.timestamp("UTCTimestamp", "timestamp"),
        hostname=reader.text("Hostname", "ComputerName"),
        vendor_endpoint_id=reader.text("AgentIdString", "SensorId", "AgentId"),
        username=join_user(reader.text("LogonDomain"), reader.text("UserName")),
        command_line=reader.text("CommandLine"),
        file_path=join_path(reader.text("FilePath"), reader.text("FileName")),
        file_sha256=reader.get("SHA256String"),
        tactic=(reader.get("TacticId"), reader.get("Tactic")),
        technique=reader.get("TechniqueId", "Technique"),
    )


def _replicator(reader: Reader) -> NormalizedDetection:
    return _build(
        reader,
        external_id=reader.text("id", "event.id"),
        id_path="id",
        title=reader.require_text(
            "event_simpleName", expected="the event name, e.g. ProcessRollup2"
        ),
        severity=(DEFAULT_SEVERITY, ""),
        occurred=reader.timestamp("event.timestamp", "timestamp"),
        hostname=reader.text("event.ComputerName", "ComputerName"),
        vendor_endpoint_id=reader.text("aid", "event.aid"),
        username=reader.text("event.UserName", "UserName"),
        command_line=reader.text("event.CommandLine"),
        file_path=reader.text("event.ImageFileName"),
        file_sha256=reader.get("event.SHA256HashData"),
        tactic=(),
        technique=None,
    )


def _required_id(reader: Reader, path: str) -> str:
    return reader.require_text(path, expected="the detection id")


def _severity(reader: Reader, number_path: str, name_path: str) -> tuple[str, str]:
    """Map the numeric severity, else its name, and keep the value that was used.

    Numbers 1-5 are the legacy scale and any other number is the 0-100 scale.
    On that scale Falcon alerts pair 30 with Low, 50 with Medium, 70 and 79
    with High, and 90 with Critical.
    """
    raw_number = reader.get(number_path)
    number = as_number(raw_number)
    if number is not None:
        if not 0 <= number <= 100:
            raise reader.error(
                number_path, f"{number:g} is out of range; expected 0 to 100"
            )
        if number in _FIVE_POINT:
            return _FIVE_POINT[int(number)], as_text(raw_number)
        return severity_from_score(number), as_text(raw_number)

    name = reader.text(name_path)
    if name.lower() in _NAMES:
        return _NAMES[name.lower()], name
    raise reader.error(
        number_path,
        f"missing or invalid (name {name!r}); expected a number from 0 to 100 "
        "or Informational, Low, Medium, High or Critical",
    )


def _build(
    reader: Reader,
    *,
    external_id: str,
    id_path: str,
    title: str,
    severity: tuple[str, str],
    occurred: Any,
    hostname: str,
    vendor_endpoint_id: str,
    username: str,
    command_line: str,
    file_path: str,
    file_sha256: Any,
    tactic: tuple,
    technique: Any,
) -> NormalizedDetection:
    return NormalizedDetection(
        source=SOURCE,
        external_id=reader.external_id(external_id, id_path),
        title=title,
        severity=severity[0],
        original_severity=severity[1],
        occurred=occurred,
        hostname=hostname,
        vendor_endpoint_id=vendor_endpoint_id,
        username=username,
        command_line=command_line,
        file_path=file_path,
        file_sha256=clean_sha256(file_sha256),
        mitre_tactic=clean_tactic(*tactic),
        mitre_technique=clean_technique(technique),
        raw=reader.document,
    )
