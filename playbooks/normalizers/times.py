"""Timestamp parsing for the forms vendors send: ISO 8601 variants and epochs."""

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# Date, a "T" or a space, time, an optional fraction of any length (Defender sends
# 7 digits, CrowdStrike 9), then an optional offset with or without a colon
# ("+0000" from Wazuh), "Z" or "UTC".
_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:[.,](?P<fraction>\d+))?"
    r"\s*(?P<zone>Z|UTC|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_EPOCH = re.compile(r"\d+(?:\.\d+)?")

# An epoch at or above this is in milliseconds: as seconds it would be past the
# year 5000, and as milliseconds it is after March 1973.
_MILLISECONDS_FROM = 100_000_000_000

_EXPECTED = (
    "expected an ISO 8601 time such as 2025-08-13T08:42:21Z "
    "or epoch seconds or milliseconds"
)


def parse_timestamp(value: Any) -> datetime:
    """Parse an ISO 8601 string or an epoch number into an aware UTC datetime.

    A time without an offset is taken as UTC. Fractions beyond microseconds are
    cut off. Raise ValueError, naming the value, for anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a time; {_EXPECTED}")
    if isinstance(value, str) and _EPOCH.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, int | float):
        return _from_epoch(value)
    return _from_iso(value)


def _from_epoch(value: float) -> datetime:
    if value <= 0:
        raise ValueError(f"epoch {value!r} is not a real alert time; {_EXPECTED}")
    seconds = value / 1000 if value >= _MILLISECONDS_FROM else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"epoch {value!r} is out of range; {_EXPECTED}") from None


def _from_iso(text: str) -> datetime:
    match = _ISO.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time; {_EXPECTED}")

    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    try:
        parsed = datetime.fromisoformat(
            f"{match['date']}T{match['hour']}:{match['minute']}:"
            f"{match['second'] or '00'}.{fraction}"
        )
        zone = _zone(match["zone"])
    except ValueError as error:
        raise ValueError(f"{text!r} is not a valid time ({error})") from None

    try:
        return parsed.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


def _zone(text: str | None) -> timezone:
    if text is None or text.upper() in ("Z", "UTC"):
        return UTC
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-offset if text[0] == "-" else offset)
