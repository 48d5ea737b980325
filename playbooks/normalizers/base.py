"""The normalized detection, its error, and the field readers every source uses."""

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from playbooks.normalizers.times import parse_timestamp

SEVERITIES = ("low", "medium", "high", "critical")

# The severity of a document that carries no threat severity at all, such as
# Falcon Data Replicator telemetry or a Windows event. Medium is neither ignored
# nor escalated.
DEFAULT_SEVERITY = "medium"

MAX_EXTERNAL_ID_LENGTH = 255

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")


@dataclass(frozen=True)
class NormalizedDetection:
    """One vendor alert mapped onto the fields Exec's playbooks read.

    Absent text fields are "". `occurred` is timezone-aware UTC, `severity` is
    one of SEVERITIES, and `raw` is the document exactly as it was posted.
    """

    source: str
    external_id: str
    title: str
    severity: str
    original_severity: str
    occurred: datetime
    hostname: str
    vendor_endpoint_id: str
    username: str
    command_line: str
    file_path: str
    file_sha256: str
    mitre_tactic: str
    mitre_technique: str
    raw: dict


class NormalizationError(ValueError):
    """A document that cannot be mapped; `field` is the dotted path at fault."""

    def __init__(self, source: str, field: str, message: str) -> None:
        super().__init__(f"{source} detection: {field}: {message}")
        self.source = source
        self.field = field


def stable_id(document: dict) -> str:
    """Return "sha256:" and the hex SHA-256 of the document's canonical JSON.

    Canonical means sorted keys, no spaces and UTF-8, so the same alert posted
    twice, whatever its key order or indentation, gets the same id.
    """
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _find(value: Any, parts: list[str]) -> Iterator[Any]:
    """Yield the values at `parts`, reading keys flat ("a.b"), nested or mixed.

    Elastic stores one field as `{"a.b.c": 1}` or `{"a": {"b": {"c": 1}}}`, and
    Panther lower-cases some Okta keys, so each level tries the longest dotted
    key first and falls back to a case-insensitive match.
    """
    if not parts:
        yield value
        return
    if not isinstance(value, dict):
        return

    folded_keys: dict[str, str] | None = None
    for size in range(len(parts), 0, -1):
        key = ".".join(parts[:size])
        if key in value:
            yield from _find(value[key], parts[size:])
            continue
        if folded_keys is None:
            # Reversed, so that the first matching key in the document wins.
            folded_keys = {
                candidate.casefold(): candidate
                for candidate in reversed(value)
                if isinstance(candidate, str)
            }
        actual_key = folded_keys.get(key.casefold())
        if actual_key is not None:
            yield from _find(value[actual_key], parts[size:])


def is_blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def lookup(document: Any, *paths: str) -> Any:
    """Return the first non-blank value found at any of `paths`, else None."""
    for path in paths:
        for value in _find(document, path.split(".")):
            if not is_blank(value):
                return value
    return None


def first(value: Any) -> Any:
    """Return the first item of a list (ECS fields may be arrays), else `value`."""
    while isinstance(value, list):
        if not value:
            return None
        value = value[0]
    return value


def as_list(value: Any) -> list:
    """Return a list as is, None as [], and any other value as a list of one."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def as_text(value: Any) -> str:
    """Return a scalar as stripped text; lists give their first item.

    Booleans, numbers and strings are kept; objects are not text, so they give "".
    """
    value = first(value)
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def join_user(domain: str, name: str) -> str:
    """Return `DOMAIN\\name`, or `name` when it is qualified already or bare."""
    if not name:
        return ""
    if not domain or "\\" in name or "@" in name:
        return name
    return f"{domain}\\{name}"


def join_path(directory: str, name: str) -> str:
    """Join a folder and a file name with the folder's own separator."""
    if not name or directory.endswith(name):
        return directory
    if not directory:
        return name
    separator = "\\" if "\\" in directory else "/"
    return directory.rstrip("\\/") + separator + name


def clean_sha256(value: Any) -> str:
    """Return a SHA-256 as lowercase hex, or "" when invalid or all zeros.

    CrowdStrike fills hashes it did not compute with zeros.
    """
    text = as_text(value)
    if not _SHA256.fullmatch(text) or not text.strip("0"):
        return ""
    return text.lower()


def clean_technique(value: Any) -> str:
    """Return an ATT&CK technique id such as T1059.001, or "" for anything else.

    Vendors put their own categories (CrowdStrike "PUP", "CST0007") in the same
    fields; those are not ATT&CK ids.
    """
    text = as_text(value).upper()
    return text if _TECHNIQUE.fullmatch(text) else ""


def first_technique(values: Any) -> str:
    """Return the first ATT&CK technique id in a list of candidates, else ""."""
    for value in as_list(values):
        technique = clean_technique(value)
        if technique:
            return technique
    return ""


def severity_from_score(score: float) -> str:
    """Map a 0-100 score: under 40 low, under 60 medium, under 80 high, else critical.

    CrowdStrike's 0-100 severities and Exec's generic format
    use these bands.
    """
    if score < 40:
        return "low"
    if score < 60:
        return "medium"
    if score < 80:
        return "high"
    return "critical"


def as_number(value: Any) -> float | None:
    """Return a JSON number or numeric string as a float, else None."""
    value = first(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


class Reader:
    """Reads one source's document and raises NormalizationError on bad fields."""

    def __init__(self, source: str, document: dict) -> None:
        self.source = source
        self.document = document

    def error(self, field: str, message: str) -> NormalizationError:
        return NormalizationError(self.source, field, message)

    def get(self, *paths: str) -> Any:
        return lookup(self.document, *paths)

    def text(self, *paths: str) -> str:
        return as_text(self.get(*paths))

    def require_text(self, *paths: str, expected: str) -> str:
        """Return the first non-blank text at `paths`, or name the first path."""
        text = self.text(*paths)
        if not text:
            raise self.error(paths[0], f"missing; expected {expected}")
        return text

    def timestamp(self, *paths: str) -> datetime:
        """Parse the first present timestamp at `paths` into aware UTC."""
        for path in paths:
            value = first(self.get(path))
            if is_blank(value):
                continue
            try:
                return parse_timestamp(value)
            except ValueError as error:
                raise self.error(path, str(error)) from None
        raise self.error(
            paths[0], "missing; expected an ISO 8601 time or epoch milliseconds"
        )

    def external_id(self, value: str, field: str) -> str:
        """Return the vendor's alert id, or the stable hash when it has none."""
        if not value:
            return stable_id(self.document)
        if len(value) > MAX_EXTERNAL_ID_LENGTH:
            raise self.error(
                field,
                f"alert id is {len(value)} characters long; "
                f"expected at most {MAX_EXTERNAL_ID_LENGTH}",
            )
        return value
