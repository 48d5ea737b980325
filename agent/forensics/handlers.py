"""The agent's forensics task handlers: `collect_forensics` and `collect_file`."""

import logging
import re
from pathlib import Path
from typing import Any

from agent.forensics.collect import collect_package, default_package_name
from agent.forensics.ioc import (
    DEFAULT_MAX_SIZE,
    FileRejected,
    collect_file,
    find_by_sha256,
)
from agent.tasks import TaskContext, TaskFailed, task_handler

logger = logging.getLogger(__name__)

SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _upload(context: TaskContext, path: Path, kind: str) -> dict[str, Any] | None:
    """Upload the zip at `path` and delete it once the server has stored it.

    The zip contains evidence about the endpoint's users, so it does not stay in
    the work folder after delivery. Without a server it stays for the operator.
    """
    if context.upload is None:
        return None
    logger.info("uploading task_id=%s kind=%s path=%s", context.task_id, kind, path)
    reply = context.upload(path, kind)
    path.unlink(missing_ok=True)
    return reply


@task_handler("collect_forensics")
def handle_collect_forensics(
    parameters: dict[str, Any], context: TaskContext
) -> dict[str, Any]:
    """Collect the requested artifacts into a package and upload it.

    Parameters: `artifacts` (list of names or categories, default all),
    `timeout` (seconds per artifact, optional), `server_utc` (dispatch time),
    `use_osquery` (read tables through osqueryi when installed, default false).
    """
    artifacts = parameters.get("artifacts")
    if artifacts is not None and (
        not isinstance(artifacts, list)
        or not all(isinstance(a, str) for a in artifacts)
    ):
        raise TaskFailed("parameter artifacts must be a list of artifact names")
    use_osquery = parameters.get("use_osquery", False)
    if not isinstance(use_osquery, bool):
        raise TaskFailed(
            f"parameter use_osquery must be true or false, not {use_osquery!r}"
        )
    timeout = parameters.get("timeout")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise TaskFailed(
            f"parameter timeout must be a positive number, not {timeout!r}"
        )

    output = Path(context.work_dir) / default_package_name(str(context.task_id))
    try:
        package = collect_package(
            output,
            artifacts,
            request_id=str(context.task_id),
            server_utc_at_dispatch=parameters.get("server_utc"),
            timeout=timeout,
            use_osquery=use_osquery,
        )
    except ValueError as error:
        raise TaskFailed(str(error)) from error
    reply = _upload(context, package.path, "package")
    return {
        "package": package.path.name,
        "sha256": package.sha256,
        "size": package.size,
        "uploaded": reply is not None,
        "upload": reply,
        "artifacts": {
            entry["name"]: {"status": entry["status"], "row_count": entry["row_count"]}
            for entry in package.manifest["artifacts"]
        },
    }


@task_handler("collect_file")
def handle_collect_file(
    parameters: dict[str, Any], context: TaskContext
) -> dict[str, Any]:
    """Collect one suspicious file into an `infected` AES zip and upload it.

    Parameters: `path`, or `sha256` with `directories` to search; `max_size`
    in bytes (default 100 MiB); `reason` (stored in metadata.json).
    """
    max_size = parameters.get("max_size", DEFAULT_MAX_SIZE)
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size <= 0:
        raise TaskFailed(
            f"parameter max_size must be a positive integer, not {max_size!r}"
        )
    path = parameters.get("path")
    if path is None:
        path = _search(parameters, max_size)
    elif not isinstance(path, str) or not path:
        raise TaskFailed("parameter path must be a non-empty string")

    try:
        result = collect_file(
            path,
            Path(context.work_dir),
            max_size=max_size,
            reason=parameters.get("reason"),
            context={"task_id": context.task_id},
        )
    except FileRejected as error:
        raise TaskFailed(str(error)) from error
    reply = _upload(context, Path(result["zip_path"]), "file")
    return {**result, "uploaded": reply is not None, "upload": reply}


def _search(parameters: dict[str, Any], max_size: int) -> str:
    sha256 = parameters.get("sha256")
    directories = parameters.get("directories")
    if not isinstance(sha256, str) or not SHA256.match(sha256):
        raise TaskFailed(
            "give parameter path, or sha256 (64 hex digits) and directories"
        )
    if not isinstance(directories, list) or not directories:
        raise TaskFailed("parameter directories must be a non-empty list of folders")
    found = find_by_sha256(sha256, directories, max_size)
    if found is None:
        raise TaskFailed(
            f"no regular file up to {max_size} bytes with sha256 {sha256.lower()} "
            f"under {', '.join(directories)}"
        )
    return found
