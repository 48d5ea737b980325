"""django-q2 tasks of the run engine: thin, taking ids, safe to run twice."""

import logging

from django.utils import timezone

from playbooks import engine, triggers

logger = logging.getLogger(__name__)


def run_step(step_run_id: int) -> None:
    """Claim and run one step; a step that is not due or taken is left alone."""
    engine.run_step(step_run_id)


def tick() -> dict[str, int]:
    """Start due schedules and status watches, and queue lost due steps."""
    now = timezone.now()
    scheduled = triggers.run_due_schedules(now)
    watched = triggers.check_status_watches(now)
    swept = engine.sweep_due(now)
    counts = {"scheduled_runs": len(scheduled), "watch_runs": len(watched), **swept}
    if any(counts.values()):
        logger.info("playbook tick %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def watchdog() -> dict[str, int]:
    """Requeue or fail steps whose worker died while they ran."""
    counts = engine.recover_lost_steps(timezone.now())
    if any(counts.values()):
        logger.warning(
            "watchdog requeued=%s failed=%s", counts["requeued"], counts["failed"]
        )
    return counts
