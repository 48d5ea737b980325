"""A generic-only stand-in for the detection normalizers.

`normalize(source, document)` maps a document onto NormalizedDetection or
raises NormalizationError naming the field; `parse_body(body)` splits a
posted body (one object, an array or NDJSON) into documents.
"""

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")


class NormalizationError(ValueError):
    """A document that cannot be mapped; `field` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class NormalizedDetection:
    source: str
    external_id: str
    title: str
    severity: str
    original_severity: str
    occurred: dt.datetime
    hostname: str
    vendor_endpoint_id: str
    username: str
    command_line: str
    file_path: str
    file_sha256: str
    mitre_tactic: str
    mitre_technique: str
    raw: dict[str, Any]


def parse_body(body: bytes) -> list[dict[str, Any]]:
    """Split a body into documents: an object, an array of objects or NDJSON."""
    text = body.decode("utf-8").strip()
    if not text:
        raise NormalizationError("body", "empty; post a JSON object")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = [json.loads(line) for line in text.splitlines() if line.strip()]
    documents = parsed if isinstance(parsed, list) else [parsed]
    if not all(isinstance(document, dict) for document in documents):
        raise NormalizationError("body", "every document must be a JSON object")
    return documents


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    return "" if value is None else str(value)


def normalize(source: str, document: dict[str, Any]) -> NormalizedDetection:
    """Map a generic document; other sources are not handled by this stand-in."""
    if source != "generic":
        raise NormalizationError("source", f"no normalizer for {source!r}")
    for key in ("id", "title", "timestamp"):
        if not document.get(key):
            raise NormalizationError(key, "missing")
    severity = str(document.get("severity", "medium")).lower()
    if severity not in SEVERITIES:
        raise NormalizationError("severity", f"unknown value {severity!r}")
    try:
        occurred = dt.datetime.fromisoformat(str(document["timestamp"]))
    except ValueError:
        raise NormalizationError("timestamp", "not an ISO 8601 time") from None
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=dt.UTC)
    return NormalizedDetection(
        source=source,
        external_id=str(document["id"]),
        title=str(document["title"]),
        severity=severity,
        original_severity=_text(document, "severity"),
        occurred=occurred.astimezone(dt.UTC),
        hostname=_text(document, "hostname"),
        vendor_endpoint_id=_text(document, "endpoint_id"),
        username=_text(document, "username"),
        command_line=_text(document, "command_line"),
        file_path=_text(document, "file_path"),
        file_sha256=_text(document, "file_sha256").lower(),
        mitre_tactic=_text(document, "mitre_tactic"),
        mitre_technique=_text(document, "mitre_technique"),
        raw=document,
    )
