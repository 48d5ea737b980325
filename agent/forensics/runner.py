"""Run collectors in a worker process so a time limit can really stop one.

A Python thread cannot be stopped: a collector blocked in `open()` on a FIFO,
in `statvfs()` on a dead NFS mount or in a native call would keep running
after its deadline, holding the collection open. So collectors run one after
another in a single worker process, and the parent waits for each result with
the artifact's deadline. On a timeout the parent kills the worker (and with it
the hung call) and starts a fresh worker for the next artifact. The worker is
started with `spawn` on every platform: it behaves the same on Linux, macOS and
Windows, and it is safe when the parent has threads (`fork` is not).
"""

import importlib
import logging
import multiprocessing
import subprocess
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from agent.forensics.model import (
    ARTIFACTS,
    ERROR,
    OK,
    PARTIAL,
    PERMISSION_DENIED,
    SKIPPED,
    TIMEOUT,
    UNSUPPORTED,
    Artifact,
    Rows,
    Skipped,
    Unsupported,
    current_platform,
    now_utc,
)
from agent.forensics.osquery import (
    OSQUERY_QUERIES,
    collect_with_osquery,
    osquery_available,
)

logger = logging.getLogger(__name__)

# Modules whose import registers every built-in artifact and collector.
COLLECTOR_MODULES = (
    "agent.forensics.artifacts",
    "agent.forensics.common",
    "agent.forensics.linux",
    "agent.forensics.macos",
    "agent.forensics.windows",
)


@dataclass
class ArtifactResult:
    """The outcome of one artifact: its status, rows and what went wrong."""

    name: str
    status: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    reason: str | None = None
    started_utc: str = ""
    duration_ms: int = 0


def load_collectors(extra_modules: Iterable[str] = ()) -> None:
    """Import the collector modules so that every artifact is registered."""
    for module in (*COLLECTOR_MODULES, *extra_modules):
        importlib.import_module(module)


def error_record(error: BaseException) -> dict[str, Any]:
    """Describe an exception for the manifest: type, errno and message."""
    return {
        "type": type(error).__name__,
        "errno": getattr(error, "errno", None),
        "message": str(error) or type(error).__name__,
    }


def run_collector(
    artifact: Artifact, platform: str, use_osquery: bool = False
) -> dict[str, Any]:
    """Run an artifact's collector in this process and describe the outcome.

    With `use_osquery`, an artifact that has an osquery table is read through
    `osqueryi` when it is installed, and the native collector runs if that fails.
    """
    notes = []
    if use_osquery and artifact.name in OSQUERY_QUERIES and osquery_available():
        try:
            return describe_rows(collect_with_osquery(artifact.name))
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
            notes.append(f"osqueryi failed, used the native collector: {error}")
    function = artifact.collectors.get(platform)
    if function is None:
        reason = artifact.unsupported.get(platform, f"no collector for {platform}")
        return {"status": UNSUPPORTED, "reason": reason}
    try:
        rows: Rows = function()
    except Unsupported as error:
        return {"status": UNSUPPORTED, "reason": str(error)}
    except Skipped as error:
        return {"status": SKIPPED, "reason": str(error)}
    except PermissionError as error:
        return {"status": PERMISSION_DENIED, "error": error_record(error)}
    except Exception as error:
        record = error_record(error)
        record["traceback"] = traceback.format_exc(limit=8)
        return {"status": ERROR, "error": record}
    rows.warnings[:0] = notes
    return describe_rows(rows)


def describe_rows(rows: Rows) -> dict[str, Any]:
    """Describe a collector's successful result for the parent process."""
    empty_reason = rows.reason
    if not rows.rows and empty_reason is None:
        # Zero rows is a valid result, and the reason distinguishes it from a failure.
        empty_reason = "the sources were read and hold no entries"
    return {
        "status": PARTIAL if rows.partial else OK,
        "rows": rows.rows,
        "warnings": rows.warnings,
        "sources": rows.sources,
        "reason": empty_reason,
    }


def worker_main(connection: Connection, extra_modules: tuple[str, ...]) -> None:
    """Serve collection requests from the parent until it closes the pipe."""
    load_collectors(extra_modules)
    while True:
        try:
            name, platform, use_osquery = connection.recv()
        except EOFError:
            return
        connection.send(run_collector(ARTIFACTS[name], platform, use_osquery))


class Worker:
    """One spawned worker process and the parent's end of its pipe."""

    def __init__(self, extra_modules: tuple[str, ...]) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=worker_main, args=(child, extra_modules), daemon=True
        )
        self.process.start()
        child.close()

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        self.connection.close()
        self.process.join(timeout=10)


class Runner:
    """Collect artifacts one by one, each within its own time limit."""

    def __init__(
        self,
        *,
        platform: str | None = None,
        timeout: float | None = None,
        extra_modules: Iterable[str] = (),
        use_osquery: bool = False,
    ) -> None:
        self.platform = platform or current_platform()
        self.timeout = timeout
        self.use_osquery = use_osquery
        self.extra_modules = tuple(extra_modules)
        self.worker: Worker | None = None
        load_collectors(self.extra_modules)

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def collect(self, names: Iterable[str]) -> Iterator[ArtifactResult]:
        """Yield each artifact's result as soon as it is known."""
        for name in names:
            yield self.collect_one(name)

    def collect_one(self, name: str) -> ArtifactResult:
        artifact = ARTIFACTS[name]
        started, clock = now_utc(), time.monotonic()
        if self.platform not in artifact.collectors and not self.use_osquery:
            # No need to wake the worker for an artifact this OS lacks.
            outcome = run_collector(artifact, self.platform)
        else:
            outcome = self._run_in_worker(artifact)
        result = ArtifactResult(name=name, started_utc=started, **outcome)
        result.duration_ms = int((time.monotonic() - clock) * 1000)
        logger.info(
            "collected artifact=%s status=%s rows=%d duration_ms=%d",
            name,
            result.status,
            len(result.rows),
            result.duration_ms,
        )
        return result

    def _run_in_worker(self, artifact: Artifact) -> dict[str, Any]:
        limit = self.timeout if self.timeout is not None else artifact.timeout
        if self.worker is None:
            self.worker = Worker(self.extra_modules)
        worker = self.worker
        try:
            worker.connection.send((artifact.name, self.platform, self.use_osquery))
            if worker.connection.poll(limit):
                return worker.connection.recv()
        except (EOFError, OSError) as error:
            self.worker = None
            worker.stop(kill=True)
            code = worker.process.exitcode
            return {
                "status": ERROR,
                "error": {
                    "type": type(error).__name__,
                    "errno": None,
                    "message": f"collector process exited (exit code {code})",
                },
            }
        self.worker = None
        worker.stop(kill=True)
        return {
            "status": TIMEOUT,
            "error": {
                "type": "TimeoutError",
                "errno": None,
                "message": f"collector did not finish within {limit:g} s "
                "and was stopped",
            },
        }
