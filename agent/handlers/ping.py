"""The `ping` task: proves that a task travels to the agent and back."""

import socket
from datetime import UTC, datetime
from typing import Any

from agent import __version__
from agent.tasks import TaskContext, task_handler


@task_handler("ping")
def ping(parameters: dict[str, Any], context: TaskContext) -> dict[str, Any]:
    """Return the agent's version, the host name and the agent's UTC time."""
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"agent_version": __version__, "hostname": socket.gethostname(), "time": now}
