"""The contract every response action follows, and the registry of actions.

An action is a class with a name such as `okta.suspend`, a JSON Schema for its
parameters and one `execute` method. `execute` returns a JSON result or raises
one of the typed errors below, which tell the run engine what to do next.
Apps register their actions with `@register` when their `ready()` runs.
"""

import datetime
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar


class TargetKind(enum.StrEnum):
    ENDPOINT = "endpoint"
    USER = "user"
    ANY = "any"


class ActionError(Exception):
    """Base of the errors an action raises."""


class TransientError(ActionError):
    """A failure that may pass, such as a timeout or a 503; the step is retried."""


class PermanentError(ActionError):
    """A failure that retrying cannot fix; the step fails with this message."""


class WaitForAgentTask(ActionError):
    """The step waits until the agent task finishes, then runs `resume`."""

    def __init__(self, task_id: int, message: str = "") -> None:
        super().__init__(message or f"waiting for agent task {task_id}")
        self.task_id = task_id


class WaitForApproval(ActionError):
    """The step waits for a person to approve it."""


class WaitUntil(ActionError):
    """The step waits, without holding a worker, until `until`, then runs `resume`."""

    def __init__(self, until: datetime.datetime, message: str = "") -> None:
        super().__init__(message or f"waiting until {until.isoformat()}")
        self.until = until


@dataclass
class ActionContext:
    """What an action may use: the run, its target and the rendered parameters.

    `approval` is the decided approval, with the option the approver chose, when
    the step needed one. `task` is the finished agent task when the step resumes
    after waiting for it.
    """

    run: Any
    step_run: Any
    parameters: dict[str, Any]
    now: Any
    endpoint: Any = None
    endpoint_user: Any = None
    detection: Any = None
    approval: Any = None
    task: Any = None
    log: list[str] = field(default_factory=list)


class Action:
    """Base class of response actions."""

    name: ClassVar[str]
    label: ClassVar[str]
    target_kind: ClassVar[TargetKind] = TargetKind.ANY
    # JSON Schema of the parameters, checked when a step is saved.
    parameters_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    # Safe to run twice: the engine may retry it after a worker is lost.
    idempotent: ClassVar[bool] = False
    # Always requires approval, whatever the step configures.
    requires_approval: ClassVar[bool] = False

    def execute(self, context: ActionContext) -> dict[str, Any]:
        raise NotImplementedError

    def resume(self, context: ActionContext) -> dict[str, Any]:
        """Finish the step after the agent task in `context.task` has finished."""
        raise PermanentError(f"{self.name} does not wait for agent tasks")

    def describe(self, context: ActionContext) -> str:
        """Return one sentence of what `execute` will do, for approvers."""
        return f"{self.label} with {context.parameters}"

    def approval_options(self, context: ActionContext) -> list[dict[str, Any]]:
        """Return the choices an approver picks one of, such as candidate accounts.

        Each option is a dict with a string `id` and a `label`, and may carry a
        `score`, a list of `reasons` and keys of the action's own. The chosen
        option reaches `execute` as `context.approval.chosen_option`. With the
        default, an empty list, the approver only approves or rejects.
        """
        return []


_REGISTRY: dict[str, type[Action]] = {}


def register(action: type[Action]) -> type[Action]:
    """Add an action class to the registry; its name must be new."""
    if action.name in _REGISTRY and _REGISTRY[action.name] is not action:
        raise ValueError(f"an action named {action.name!r} is registered already")
    _REGISTRY[action.name] = action
    return action


def get_action(name: str) -> Action:
    """Return an instance of the action named `name`, or raise KeyError."""
    return _REGISTRY[name]()


def registered_actions() -> dict[str, type[Action]]:
    return dict(sorted(_REGISTRY.items()))
