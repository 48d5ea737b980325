"""Receivers of the run engine's signals."""

from typing import Any

from django.utils import timezone

from approvals.actions import cancel_requests_for_run


def on_run_cancelled(sender: Any, run: Any, actor: Any = None, **kwargs: Any) -> None:
    cancel_requests_for_run(run.pk, actor=actor, now=timezone.now())
