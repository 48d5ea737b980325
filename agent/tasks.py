"""The registry of task handlers: one function per agent task type.

A handler takes the task's parameters and a `TaskContext` and returns a
JSON-serializable result, or raises `TaskFailed` with a message for the
server. Modules that define handlers register them with `@task_handler`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TaskFailed(Exception):
    """The task could not be done; the message is reported to the server."""


@dataclass
class TaskContext:
    """The services a handler may use besides its parameters."""

    task_id: int
    task_type: str
    # upload(path, kind) streams a zip for this task, where kind is "package"
    # or "file", and returns the server's JSON reply. Set by the runner; None
    # where no server is reachable (offline collection).
    upload: Callable[[Path, str], dict[str, Any]] | None = None
    work_dir: Path = field(default_factory=Path.cwd)


Handler = Callable[[dict[str, Any], TaskContext], dict[str, Any]]

HANDLERS: dict[str, Handler] = {}


def task_handler(task_type: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `task_type`."""

    def register(function: Handler) -> Handler:
        if task_type in HANDLERS:
            raise ValueError(f"a handler for task type {task_type!r} exists already")
        HANDLERS[task_type] = function
        return function

    return register
