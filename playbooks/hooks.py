"""Hooks through which higher apps take part in runs without being imported.

The approvals app registers a requester, called when a step needs a person's
decision, and optionally a loader that returns the decided approval for
`ActionContext.approval` when the step executes.
"""

from collections.abc import Callable
from typing import Any

ApprovalRequester = Callable[[Any], None]
ApprovalLoader = Callable[[Any], Any]

_approval_requester: ApprovalRequester | None = None
_approval_loader: ApprovalLoader | None = None


def register_approval_requester(requester: ApprovalRequester | None) -> None:
    """Set the function that asks for approval of a waiting step run.

    The engine calls it with the StepRun inside the transaction that marks the
    step `waiting`, so an error in it rolls the wait back. The decision comes
    back through `playbooks.engine.resume_after_approval`. None unregisters.
    """
    global _approval_requester
    _approval_requester = requester


def register_approval_loader(loader: ApprovalLoader | None) -> None:
    """Set the function that returns the approval of an approved step run."""
    global _approval_loader
    _approval_loader = loader


def approval_requester() -> ApprovalRequester | None:
    return _approval_requester


def approval_loader() -> ApprovalLoader | None:
    return _approval_loader
