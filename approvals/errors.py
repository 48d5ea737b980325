"""Errors of approval decisions; each carries the HTTP status the API returns."""


class ApprovalError(Exception):
    """Base of the reasons a decision is not taken."""

    status_code = 400
    field = ""


class DecisionNotAllowed(ApprovalError):
    """The user may not decide this request."""

    status_code = 403


class InvalidDecision(ApprovalError):
    """The decision lacks a comment or names an option the request does not have."""

    status_code = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RequestClosed(ApprovalError):
    """The request was already decided, expired or cancelled."""

    status_code = 409
