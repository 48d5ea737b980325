"""Collect a chosen set of artifacts into a package on disk."""

import socket
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from agent.forensics.model import ARTIFACTS
from agent.forensics.package import Package, write_package
from agent.forensics.runner import ArtifactResult, Runner, load_collectors


def artifact_names() -> list[str]:
    """Return every registered artifact name in collection order."""
    load_collectors()
    return list(ARTIFACTS)


def resolve_artifacts(requested: Iterable[str] | None) -> list[str]:
    """Expand names and categories ("network") into artifact names.

    Raises ValueError naming the unknown entries and listing the valid ones.
    """
    names = artifact_names()
    if not requested:
        return names
    chosen: list[str] = []
    unknown = []
    for item in requested:
        item = item.strip()
        matches = [n for n in names if n == item or n.split(".")[0] == item]
        if not matches:
            unknown.append(item)
        chosen += [n for n in matches if n not in chosen]
    if unknown:
        raise ValueError(
            f"unknown artifact(s) {', '.join(unknown)}; choose from: {', '.join(names)}"
        )
    return chosen


def default_package_name(package_id: str = "") -> str:
    """Name a package fp_<hostname>_<UTC time>_<id8>.zip."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())
    return f"fp_{host}_{stamp}{'_' + package_id[:8] if package_id else ''}.zip"


def collect_package(
    output: Path,
    artifacts: Sequence[str] | None = None,
    *,
    agent_id: str | None = None,
    request_id: str | None = None,
    server_utc_at_dispatch: str | None = None,
    timeout: float | None = None,
    on_result: Callable[[ArtifactResult], None] | None = None,
    extra_modules: Iterable[str] = (),
    use_osquery: bool = False,
) -> Package:
    """Collect `artifacts` (all when None) into the zip at `output`.

    `timeout` replaces every artifact's own time limit; `on_result` is called
    after each artifact, for progress output. `use_osquery` reads artifacts
    that have an osquery table through `osqueryi` when it is installed.
    """
    names = resolve_artifacts(artifacts)
    with Runner(
        timeout=timeout, extra_modules=extra_modules, use_osquery=use_osquery
    ) as runner:

        def results() -> Iterable[ArtifactResult]:
            for result in runner.collect(names):
                if on_result is not None:
                    on_result(result)
                yield result

        return write_package(
            results(),
            output,
            agent_id=agent_id,
            request_id=request_id,
            server_utc_at_dispatch=server_utc_at_dispatch,
        )
