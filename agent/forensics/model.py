"""Artifacts, their columns and statuses, and the registry of collectors."""

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

COLLECTOR_VERSION = "1.0"
SCHEMA_VERSION = "1.0"

OK = "ok"
PARTIAL = "partial"
ERROR = "error"
PERMISSION_DENIED = "permission_denied"
TIMEOUT = "timeout"
SKIPPED = "skipped"
UNSUPPORTED = "unsupported"
STATUSES = frozenset(
    {OK, PARTIAL, ERROR, PERMISSION_DENIED, TIMEOUT, SKIPPED, UNSUPPORTED}
)
# Statuses whose manifest entry carries a non-null `error`.
FAILED = frozenset({ERROR, PERMISSION_DENIED, TIMEOUT})

LINUX = "linux"
MACOS = "macos"
WINDOWS = "windows"
PLATFORMS = (LINUX, MACOS, WINDOWS)

# Column types of the JSON files. `bigint` values are strings so that 64-bit
# identifiers survive JavaScript clients; `json` is a list or an object.
COLUMN_TYPES = frozenset(
    {"text", "integer", "bigint", "double", "boolean", "datetime", "json"}
)


class Unsupported(Exception):
    """This operating system or kernel lacks the artifact's source."""


class Skipped(Exception):
    """The artifact was not collected on purpose (disabled, over a size cap)."""


@dataclass
class Rows:
    """A collector's result: rows plus the manifest's warnings, sources and reason."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    # Set when some data could not be read, so the status becomes `partial`.
    partial: bool = False
    # Why an empty result is empty, such as "no NFS or Samba configuration".
    reason: str | None = None


Collector = Callable[[], Rows]


@dataclass
class Artifact:
    """One artifact: its column schema, a collector per platform, a time limit."""

    name: str
    columns: tuple[tuple[str, str], ...]
    timeout: float = 120.0
    collectors: dict[str, Collector] = field(default_factory=dict)
    # Why the artifact does not exist on a platform without a collector.
    unsupported: dict[str, str] = field(default_factory=dict)


ARTIFACTS: dict[str, Artifact] = {}


def define(
    name: str, columns: str, *, timeout: float = 120.0, **unsupported: str
) -> Artifact:
    """Register artifact `name` with columns written as "name:type name:type ..."."""
    parsed = []
    for item in columns.split():
        column, _, kind = item.partition(":")
        kind = kind or "text"
        if kind not in COLUMN_TYPES:
            raise ValueError(f"column {column!r} of {name} has unknown type {kind!r}")
        parsed.append((column, kind))
    artifact = Artifact(name, tuple(parsed), timeout, unsupported=unsupported)
    ARTIFACTS[name] = artifact
    return artifact


def collector(name: str, *platforms: str) -> Callable[[Collector], Collector]:
    """Register the decorated function as the collector of `name` on `platforms`."""

    def register(function: Collector) -> Collector:
        artifact = ARTIFACTS[name]
        for platform in platforms:
            if platform in artifact.collectors:
                raise ValueError(f"{name} has a {platform} collector already")
            artifact.collectors[platform] = function
        return function

    return register


def current_platform() -> str:
    """Return linux, macos or windows for the running interpreter."""
    if sys.platform.startswith("linux"):
        return LINUX
    if sys.platform == "darwin":
        return MACOS
    if sys.platform == "win32":
        return WINDOWS
    return sys.platform


def iso_utc(moment: float | datetime | None) -> str | None:
    """Format an epoch or an aware datetime as ISO 8601 UTC with a `Z`."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        try:
            moment = datetime.fromtimestamp(moment, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def now_utc() -> str:
    """Return the current time as ISO 8601 UTC with microseconds and a `Z`."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
