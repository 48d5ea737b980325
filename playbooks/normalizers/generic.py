"""Exec's generic detection format, plus Okta System Log and Windows events.

Any tool can post the generic format; its fields are named after the fields of
NormalizedDetection:

- `title` (required): a string.
- `severity` (required): low, medium, high or critical in any case;
  informational or info, which map to low; or a number from 0 to 100.
- `occurred` (required): an ISO 8601 string, taken as UTC when it has no
  offset, or epoch seconds or milliseconds.
- `external_id`: a string of at most 255 characters. When it is absent, the
  stable hash of the document is used.
- `hostname`, `vendor_endpoint_id`, `username`, `command_line`, `file_path`:
  strings.
- `file_sha256`: 64 hexadecimal characters.
- `mitre_tactic`: an ATT&CK tactic name or id, such as Execution or TA0002.
- `mitre_technique`: an ATT&CK technique id, such as T1059 or T1059.001.

Other fields are kept in `raw` only. A document with neither `title` nor
`external_id` is read as an Okta System Log event when it has `eventType` and
`published`, and as a Windows event when it has `EventID` and `Computer`.
"""

from typing import Any

from playbooks.normalizers import okta, windows_event
from playbooks.normalizers.base import (
    SEVERITIES,
    NormalizedDetection,
    Reader,
    as_number,
    clean_sha256,
    clean_technique,
    severity_from_score,
)
from playbooks.normalizers.mitre import clean_tactic

SOURCE = "generic"

_TEXT_FIELDS = (
    "external_id",
    "hostname",
    "vendor_endpoint_id",
    "username",
    "command_line",
    "file_path",
)
_SEVERITY_ALIASES = {"informational": "low", "info": "low"}


def normalize(document: dict) -> NormalizedDetection:
    """Map a generic document, or an Okta or Windows event posted as generic."""
    reader = Reader(SOURCE, document)
    if "title" not in document and "external_id" not in document:
        if reader.get("eventType") is not None and reader.get("published") is not None:
            return okta.normalize(reader)
        if reader.get("EventID") is not None and reader.get("Computer") is not None:
            return windows_event.normalize(reader)
    return _normalize_generic(reader)


def _normalize_generic(reader: Reader) -> NormalizedDetection:
    document = reader.document
    texts = {field: _optional_text(reader, field) for field in _TEXT_FIELDS}
    title = _optional_text(reader, "title")
    if not title:
        raise reader.error("title", "missing; expected a short description")
    severity, original_severity = _severity(reader)

    return NormalizedDetection(
        source=SOURCE,
        external_id=reader.external_id(texts["external_id"], "external_id"),
        title=title,
        severity=severity,
        original_severity=original_severity,
        occurred=reader.timestamp("occurred"),
        hostname=texts["hostname"],
        vendor_endpoint_id=texts["vendor_endpoint_id"],
        username=texts["username"],
        command_line=texts["command_line"],
        file_path=texts["file_path"],
        file_sha256=_checked(reader, "file_sha256", clean_sha256, "64 hex digits"),
        mitre_tactic=_checked(
            reader, "mitre_tactic", clean_tactic, "an ATT&CK tactic name or id"
        ),
        mitre_technique=_checked(
            reader, "mitre_technique", clean_technique, "an id such as T1059.001"
        ),
        raw=document,
    )


def _optional_text(reader: Reader, field: str) -> str:
    """Return the top-level string `field`, "" when absent; reject other types."""
    value = reader.document.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise reader.error(field, f"expected a string, got {type(value).__name__}")
    return value.strip()


def _checked(reader: Reader, field: str, clean: Any, expected: str) -> str:
    """Return `clean(value)`, rejecting a value that is set but does not clean."""
    text = _optional_text(reader, field)
    cleaned = clean(text) if text else ""
    if text and not cleaned:
        raise reader.error(field, f"{text!r} is invalid; expected {expected}")
    return cleaned


def _severity(reader: Reader) -> tuple[str, str]:
    value = reader.document.get("severity")
    expected = "expected low, medium, high, critical or a number from 0 to 100"
    if value is None or value == "":
        raise reader.error("severity", f"missing; {expected}")

    if isinstance(value, str):
        name = value.strip().lower()
        name = _SEVERITY_ALIASES.get(name, name)
        if name in SEVERITIES:
            return name, value.strip()

    score = as_number(value)
    if score is not None and 0 <= score <= 100:
        return severity_from_score(score), str(value).strip()
    raise reader.error("severity", f"{value!r} is invalid; {expected}")
