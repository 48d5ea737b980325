"""Receivers of the endpoint signals that start and resume runs."""

import logging
from typing import Any

from django.utils import timezone

from endpoints.models import AgentTask, StatusChange
from playbooks import engine, triggers

logger = logging.getLogger(__name__)


def on_status_changed(sender: Any, status_change: StatusChange, **kwargs: Any) -> None:
    triggers.start_for_status_change(status_change, timezone.now())


def on_agent_task_finished(sender: Any, task: AgentTask, **kwargs: Any) -> None:
    resumed = engine.resume_after_agent_task(task)
    if resumed:
        logger.info("agent task finished task_id=%s steps_resumed=%s", task.pk, resumed)
