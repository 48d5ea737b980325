"""Response actions that playbook steps run, and their registry."""

from playbooks.actions.base import (
    Action,
    ActionContext,
    ActionError,
    PermanentError,
    TargetKind,
    TransientError,
    WaitForAgentTask,
    WaitForApproval,
    WaitUntil,
    get_action,
    register,
    registered_actions,
)

__all__ = [
    "Action",
    "ActionContext",
    "ActionError",
    "PermanentError",
    "TargetKind",
    "TransientError",
    "WaitForAgentTask",
    "WaitForApproval",
    "WaitUntil",
    "get_action",
    "register",
    "registered_actions",
]
