"""Running the tasks a check-in hands out and reporting each one's outcome."""

import json
import logging
from pathlib import Path
from typing import Any

from agent import __version__
from agent.client import (
    STOP_TIMEOUT,
    RequestRejected,
    ServerClient,
    ServerUnavailable,
)
from agent.tasks import HANDLERS, TaskContext, TaskFailed

logger = logging.getLogger(__name__)

# Longer error texts are cut so that one bad handler cannot bloat the request.
MAX_ERROR_LENGTH = 4000


class TaskRunner:
    """Run tasks through the handler registry and deliver their results.

    A final result that cannot be delivered because the server is unreachable
    is kept in `pending` and sent again before the next check-in.
    """

    def __init__(self, client: ServerClient, work_dir: Path) -> None:
        self.client = client
        self.work_dir = work_dir
        self.pending: dict[int, dict[str, Any]] = {}

    def run_tasks(self, tasks: list[Any]) -> None:
        for task in tasks:
            self.run_task(task)

    def run_task(self, task: Any) -> None:
        task_id = task.get("id") if isinstance(task, dict) else None
        if not isinstance(task_id, int):
            logger.warning("skipped a task without an integer id task=%r", task)
            return
        if task_id in self.pending:
            logger.info("task already ran, result not yet delivered task=%s", task_id)
            return

        task_type = str(task.get("type", ""))
        logger.info("task received task=%s type=%s", task_id, task_type)
        if not self.report_running(task_id):
            return

        try:
            parameters = task.get("parameters")
            outcome = self.execute(task_id, task_type, parameters or {})
        except BaseException:
            # A stop signal interrupted the handler: report it, then stop.
            self.client.timeout = STOP_TIMEOUT
            self.deliver(
                task_id,
                {
                    "status": "failed",
                    "result": None,
                    "error": "the agent stopped before the task finished",
                },
            )
            raise
        logger.info(
            "task finished task=%s type=%s status=%s error=%s",
            task_id,
            task_type,
            outcome["status"],
            outcome["error"] or "-",
        )
        self.deliver(task_id, outcome)

    def execute(self, task_id: int, task_type: str, parameters: Any) -> dict[str, Any]:
        """Run the handler and return the result body to post.

        Handler exceptions become a `failed` body; only BaseExceptions such as
        StopRequested pass through.
        """
        if not isinstance(parameters, dict):
            return failed(
                f"task parameters must be a JSON object, not "
                f"{type(parameters).__name__}"
            )
        handler = HANDLERS.get(task_type)
        if handler is None:
            return failed(
                f"unknown task type {task_type!r}; this agent (version "
                f"{__version__}) supports: {', '.join(sorted(HANDLERS))}"
            )

        context = TaskContext(
            task_id=task_id,
            task_type=task_type,
            upload=lambda path, kind: self.client.upload(task_id, path, kind),
            work_dir=self.work_dir,
        )
        try:
            result = handler(parameters, context)
        except TaskFailed as error:
            return failed(str(error) or "the task failed without a message")
        except Exception as error:
            logger.exception("task handler raised task=%s type=%s", task_id, task_type)
            return failed(
                f"the {task_type} handler raised {type(error).__name__}: {error}"
            )

        problem = result_problem(result)
        if problem:
            return failed(f"the {task_type} handler returned {problem}")
        return {"status": "succeeded", "result": result, "error": ""}

    def report_running(self, task_id: int) -> bool:
        """Post `running`; return False when the server rejects the task."""
        try:
            self.client.post_result(task_id, "running")
        except ServerUnavailable as error:
            # The server has marked the task sent and will not send it again,
            # so run it anyway and deliver the result when the server is back.
            logger.warning("could not report running task=%s: %s", task_id, error)
        except RequestRejected as error:
            logger.warning(
                "server rejected the task, not running it task=%s status=%s: %s",
                task_id,
                error.status,
                error,
            )
            return False
        return True

    def deliver(self, task_id: int, body: dict[str, Any]) -> None:
        self.pending[task_id] = body
        try:
            self.send_pending(task_id)
        except ServerUnavailable as error:
            logger.warning(
                "result kept for a later attempt task=%s status=%s: %s",
                task_id,
                body["status"],
                error,
            )

    def flush(self) -> None:
        """Send every kept result; raises ServerUnavailable if the server is down."""
        for task_id in list(self.pending):
            self.send_pending(task_id)

    def send_pending(self, task_id: int) -> None:
        body = self.pending[task_id]
        try:
            self.client.post_result(task_id, **body)
        except RequestRejected as error:
            logger.warning(
                "server rejected the result, dropping it task=%s status=%s: %s",
                task_id,
                error.status,
                error,
            )
        del self.pending[task_id]


def failed(error: str) -> dict[str, Any]:
    return {"status": "failed", "result": None, "error": error[:MAX_ERROR_LENGTH]}


def result_problem(result: Any) -> str | None:
    """Return why `result` cannot be posted, or None if it can."""
    if not isinstance(result, dict):
        return f"a {type(result).__name__}, not a JSON object"
    try:
        json.dumps(result)
    except (TypeError, ValueError) as error:
        return f"a result that is not JSON-serializable: {error}"
    return None
