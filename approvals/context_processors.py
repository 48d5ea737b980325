"""The count of pending approval requests shown in the header of every page."""

from functools import cache
from typing import Any

from django.http import HttpRequest

from approvals.permissions import decidable_pending_count


def pending_count(request: HttpRequest) -> dict[str, Any]:
    """Offer `approvals_pending_count`, counted only if a template shows it.

    Anonymous users cost no query; anyone else costs one COUNT the first time
    a template reads the value.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"approvals_pending_count": 0}

    @cache
    def count() -> int:
        return decidable_pending_count(user)

    return {"approvals_pending_count": count}
