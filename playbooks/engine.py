"""The run engine: start runs, execute their steps, wait, retry and cancel.

Every step is claimed with a conditional UPDATE (pending to running), so two
workers never execute it together. Actions run outside any transaction,
because they call vendors; the outcome is then recorded in one transaction
that also queues the next step on commit. Retries and timers are django-q2
schedules that name the step. `sweep_due` queues again any due step whose
task was lost, which is safe because a claim succeeds only once.
"""

import datetime as dt
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jsonschema
from auditlog.context import set_extra_data
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule
from jinja2 import TemplateError

from endpoints.choices import TASK_TERMINAL, TaskStatus
from endpoints.models import AgentTask, Endpoint, EndpointUser, StatusChange
from exec_site.events import record_event
from playbooks import hooks, signals
from playbooks.actions import (
    Action,
    ActionContext,
    PermanentError,
    TransientError,
    WaitForAgentTask,
    WaitForApproval,
    WaitUntil,
    get_action,
)
from playbooks.choices import (
    RUN_ACTIVE,
    STEP_TERMINAL,
    OnFailure,
    PlaybookTarget,
    RunStatus,
    RunTrigger,
    StepPhase,
    StepStatus,
    WaitingFor,
)
from playbooks.context import render_parameters, run_values
from playbooks.models import Detection, Playbook, PlaybookRun, StepRun
from playbooks.runlog import capture_lines

logger = logging.getLogger(__name__)

SYSTEM_USERNAME = "exec-automation"
STEP_TASK = "playbooks.tasks.run_step"
# A due step whose task has not claimed it after this long is queued again.
LOST_TASK_GRACE = dt.timedelta(minutes=2)
WORKER_LOST = "worker lost; not retried so that it cannot run twice"


class RunNotStarted(Exception):
    """A run was not started: a duplicate, a cooldown or a concurrency limit."""


@dataclass
class Outcome:
    """The outcome of one attempt of a step."""

    kind: str  # succeeded, failed, retry, wait_task, wait_time, wait_approval
    result: dict[str, Any] | None = None
    error: str = ""
    task_id: int | None = None
    until: dt.datetime | None = None
    lines: list[str] = field(default_factory=list)


def system_user() -> Any:
    """Return the account that background work runs as, creating it if needed."""
    user, _ = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False}
    )
    return user


@contextmanager
def as_automation(run_id: int) -> Iterator[None]:
    """Attribute audit log entries written in the block to the system user."""
    with set_extra_data(
        {"actor": system_user(), "additional_data": {"playbook_run_id": run_id}}
    ):
        yield


def target_key(kind: str, endpoint: Endpoint | None, user: EndpointUser | None) -> str:
    if kind == PlaybookTarget.USER and user is not None:
        return f"user:{user.pk}"
    if kind == PlaybookTarget.ENDPOINT and endpoint is not None:
        return f"endpoint:{endpoint.pk}"
    return ""


def start_run(
    playbook: Playbook,
    *,
    trigger: str,
    now: dt.datetime,
    endpoint: Endpoint | None = None,
    endpoint_user: EndpointUser | None = None,
    detection: Detection | None = None,
    status_change: StatusChange | None = None,
    started_by: Any = None,
    dedup_key: str | None = None,
) -> PlaybookRun:
    """Create a run and its steps in one transaction and queue the first step.

    Raise RunNotStarted when `dedup_key` was used already, when the target is
    in its cooldown (runs started by a person skip the cooldown) or when it
    has `max_concurrent_runs` unfinished runs.
    """
    if endpoint_user is not None and endpoint is None:
        endpoint = endpoint_user.endpoint
    key = target_key(playbook.target_kind, endpoint, endpoint_user)

    with transaction.atomic():
        playbook = Playbook.objects.get(pk=playbook.pk)
        _lock_target(playbook.target_kind, endpoint, endpoint_user)
        if trigger != RunTrigger.MANUAL:
            _check_cooldown(playbook, key, now)
        _check_concurrency(playbook, key)

        try:
            with transaction.atomic():
                run = PlaybookRun.objects.create(
                    playbook=playbook,
                    playbook_version=playbook.version,
                    trigger=trigger,
                    detection=detection,
                    status_change=status_change,
                    endpoint=endpoint,
                    endpoint_user=endpoint_user,
                    started_by=started_by,
                    dedup_key=dedup_key,
                    target_key=key,
                    created=now,
                )
        except IntegrityError:
            raise RunNotStarted(
                f"playbook {playbook.pk} already ran for {dedup_key}"
            ) from None

        step_runs = StepRun.objects.bulk_create(
            _step_run(run, step) for step in playbook.steps.order_by("order")
        )
        record_event(
            "run.started",
            f"Started {playbook.name} v{playbook.version} ({trigger})",
            actor=started_by,
            subject=run,
            endpoint_id=endpoint.pk if endpoint else None,
            playbook_id=playbook.pk,
            playbook_version=playbook.version,
            run_id=run.pk,
            details={"trigger": trigger, "target": key},
        )
        if not step_runs:
            _finish_run(run, RunStatus.SUCCEEDED, "", now)
        else:
            first_id = min(step_runs, key=lambda s: s.order).pk
            # Only the first step is due; the sweep reads not_before as "due".
            StepRun.objects.filter(pk=first_id).update(not_before=now)
            transaction.on_commit(lambda: enqueue_step(first_id))

    logger.info(
        "run started run_id=%s playbook_id=%s version=%s trigger=%s target=%s",
        run.pk,
        playbook.pk,
        run.playbook_version,
        trigger,
        key or "-",
    )
    return run


def _lock_target(
    kind: str, endpoint: Endpoint | None, user: EndpointUser | None
) -> None:
    """Serialize starts on one target, so the concurrency count stays true."""
    if kind == PlaybookTarget.USER and user is not None:
        EndpointUser.objects.select_for_update().filter(pk=user.pk).first()
    elif endpoint is not None:
        Endpoint.objects.select_for_update().filter(pk=endpoint.pk).first()


def _check_cooldown(playbook: Playbook, key: str, now: dt.datetime) -> None:
    if not playbook.cooldown_minutes:
        return
    since = now - dt.timedelta(minutes=playbook.cooldown_minutes)
    recent = PlaybookRun.objects.filter(
        playbook=playbook, target_key=key, created__gt=since
    ).exclude(status=RunStatus.CANCELLED)
    if recent.exists():
        raise RunNotStarted(
            f"playbook {playbook.pk} is in its {playbook.cooldown_minutes}-minute "
            f"cooldown for {key or 'its runs'}"
        )


def _check_concurrency(playbook: Playbook, key: str) -> None:
    if not playbook.max_concurrent_runs:
        return
    active = PlaybookRun.objects.filter(
        playbook=playbook, target_key=key, status__in=RUN_ACTIVE
    ).count()
    if active >= playbook.max_concurrent_runs:
        raise RunNotStarted(
            f"playbook {playbook.pk} has {active} unfinished runs for "
            f"{key or 'its runs'}; the maximum is {playbook.max_concurrent_runs}"
        )


def _step_run(run: PlaybookRun, step: Any) -> StepRun:
    return StepRun(
        run=run,
        step=step,
        order=step.order,
        name=step.name,
        action=step.action,
        parameters=step.parameters,
        requires_approval=step.requires_approval,
        approval_timeout_minutes=step.approval_timeout_minutes,
        timeout_seconds=step.timeout_seconds,
        max_attempts=step.max_attempts,
        backoff_seconds=step.backoff_seconds,
        on_failure=step.on_failure,
    )


def enqueue_step(step_run_id: int) -> None:
    """Hand a step to the task cluster; harmless when it is not due."""
    async_task(STEP_TASK, step_run_id, task_name=f"step-run-{step_run_id}")


def schedule_step(step_run_id: int, when: dt.datetime) -> None:
    """Queue a step to be tried at `when`, through a one-off django-q2 schedule."""
    schedule(
        STEP_TASK,
        step_run_id,
        schedule_type=Schedule.ONCE,
        next_run=when,
        repeats=-1,
    )


def retry_delay(backoff_seconds: int, attempt: int, rand: random.Random) -> float:
    """Return the seconds before retry `attempt`: doubling, with up to 25% jitter.

    Jitter spreads retries of many steps that failed on the same outage.
    """
    base = backoff_seconds * 2 ** max(attempt - 1, 0)
    return base * (1 + rand.uniform(0, 0.25))


def run_step(step_run_id: int) -> None:
    """Claim one due step and execute or resume it; a no-op when not due."""
    now = timezone.now()
    step_run = (
        StepRun.objects.select_related("run__playbook").filter(pk=step_run_id).first()
    )
    if step_run is None or step_run.run.status not in RUN_ACTIVE:
        return
    earlier = step_run.run.step_runs.filter(order__lt=step_run.order).exclude(
        status__in=STEP_TERMINAL
    )
    if earlier.exists():
        logger.warning(
            "step not run: an earlier step is unfinished step_run_id=%s", step_run_id
        )
        return
    try:
        action = get_action(step_run.action)
    except KeyError:
        action = None

    if (
        action is not None
        and step_run.status == StepStatus.PENDING
        and step_run.phase == StepPhase.EXECUTE
        and step_run.approved is None
        and (step_run.requires_approval or action.requires_approval)
    ):
        _wait_for_approval(step_run, now, from_status=StepStatus.PENDING)
        return

    if not _claim(step_run, now):
        return
    step_run.refresh_from_db()
    _mark_run_running(step_run.run_id, now)

    if action is None:
        outcome = Outcome(
            "failed", error=f"unknown action {step_run.action!r}; is its app installed?"
        )
    else:
        outcome = execute_claimed(step_run, action, now)
    record_outcome(step_run.pk, step_run.attempts, outcome, timezone.now())


def _claim(step_run: StepRun, now: dt.datetime) -> bool:
    """Take the step with a conditional UPDATE; False if another worker has it."""
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    claimable = Q(status=StepStatus.PENDING) | Q(
        status=StepStatus.WAITING, waiting_for=WaitingFor.TIME
    )
    # Only the step's own columns in the WHERE: with a join Django writes
    # `id IN (subquery)`, which PostgreSQL does not re-check after waiting on
    # the row lock, and two workers could both claim. A cancelled run has no
    # pending steps, so its steps cannot be claimed either.
    claimed = StepRun.objects.filter(claimable & due, pk=step_run.pk).update(
        status=StepStatus.RUNNING,
        waiting_for=WaitingFor.NOTHING,
        attempts=F("attempts") + 1,
        started=Coalesce(F("started"), Value(now)),
        deadline=now + dt.timedelta(seconds=step_run.timeout_seconds),
        not_before=None,
    )
    return claimed == 1


def _mark_run_running(run_id: int, now: dt.datetime) -> None:
    PlaybookRun.objects.filter(
        pk=run_id, status__in=[RunStatus.QUEUED, RunStatus.WAITING]
    ).update(status=RunStatus.RUNNING, started=Coalesce(F("started"), Value(now)))


def action_context(step_run: StepRun, now: dt.datetime) -> ActionContext:
    """Build the context of a step: rendered parameters, target, event, approval.

    Raise PermanentError when a parameter template or the parameters' schema
    fails for this run's values.
    """
    run = step_run.run
    try:
        parameters = render_parameters(step_run.parameters, run_values(run))
    except TemplateError as error:
        raise PermanentError(f"parameter template failed: {error}") from None
    schema = get_action(step_run.action).parameters_schema
    try:
        jsonschema.validate(parameters, schema)
    except jsonschema.ValidationError as error:
        raise PermanentError(f"invalid parameters: {error.message}") from None

    approval = None
    if step_run.approved:
        loader = hooks.approval_loader()
        approval = loader(step_run) if loader else {"id": step_run.approval_id}
    return ActionContext(
        run=run,
        step_run=step_run,
        parameters=parameters,
        now=now,
        endpoint=run.endpoint,
        endpoint_user=run.endpoint_user,
        detection=run.detection,
        approval=approval,
        task=step_run.agent_task,
    )


def describe_step(step_run: StepRun, now: dt.datetime) -> str:
    """Return the sentence an approver reads: what the step will do, and on whom.

    Raise PermanentError when the step's parameters cannot be rendered.
    """
    action = get_action(step_run.action)
    return action.describe(action_context(step_run, now))


def execute_claimed(step_run: StepRun, action: Action, now: dt.datetime) -> Outcome:
    """Run the action's execute or resume and turn what happened into an Outcome."""
    with capture_lines() as lines, as_automation(step_run.run_id):
        logger.info(
            "step %s %s attempt %s run_id=%s step_run_id=%s",
            step_run.phase,
            step_run.action,
            step_run.attempts,
            step_run.run_id,
            step_run.pk,
        )
        outcome = _call_action(step_run, action, now)
        if outcome.error:
            logger.warning(
                "step %s: %s run_id=%s step_run_id=%s",
                outcome.kind,
                outcome.error,
                step_run.run_id,
                step_run.pk,
            )
    outcome.lines = list(lines)
    return outcome


def _call_action(step_run: StepRun, action: Action, now: dt.datetime) -> Outcome:
    try:
        context = action_context(step_run, now)
        if step_run.phase == StepPhase.RESUME:
            result = action.resume(context)
        else:
            result = action.execute(context)
    except TransientError as error:
        return Outcome("retry", error=str(error))
    except PermanentError as error:
        return Outcome("failed", error=str(error))
    except WaitForAgentTask as error:
        return Outcome("wait_task", task_id=error.task_id, error="")
    except WaitUntil as error:
        return Outcome("wait_time", until=error.until)
    except WaitForApproval:
        return Outcome("wait_approval")
    except Exception as error:
        # An action's bug must fail its step, not kill the worker and leave
        # the step running until the watchdog.
        logger.exception(
            "step raised run_id=%s step_run_id=%s", step_run.run_id, step_run.pk
        )
        return Outcome("failed", error=f"unexpected {type(error).__name__}: {error}")
    for line in context.log:
        logger.info("%s", line)
    return Outcome("succeeded", result=result or {})


def record_outcome(
    step_run_id: int, attempt: int, outcome: Outcome, now: dt.datetime
) -> None:
    """Store an attempt's outcome and move the run on, in one transaction.

    Nothing is stored when the watchdog has already given up on this attempt.
    """
    with transaction.atomic():
        step_run = (
            StepRun.objects.select_for_update()
            .select_related("run__playbook")
            .filter(pk=step_run_id, status=StepStatus.RUNNING, attempts=attempt)
            .first()
        )
        if step_run is None:
            logger.warning(
                "step outcome dropped; the step was taken over step_run_id=%s",
                step_run_id,
            )
            return
        _append_log(step_run, outcome.lines)
        run_status = PlaybookRun.objects.values_list("status", flat=True).get(
            pk=step_run.run_id
        )
        if run_status == RunStatus.CANCELLED and outcome.kind not in FINAL_OUTCOMES:
            _cancel_late_step(step_run, outcome, now)
            return
        handler = _OUTCOME_HANDLERS[outcome.kind]
        handler(step_run, outcome, now)


# Outcomes that end a step; the others would keep it open.
FINAL_OUTCOMES = frozenset({"succeeded", "failed"})


def _cancel_late_step(step_run: StepRun, outcome: Outcome, now: dt.datetime) -> None:
    """End a step whose run was cancelled while it executed, withdrawing its task."""
    if outcome.task_id:
        AgentTask.objects.filter(pk=outcome.task_id, status=TaskStatus.QUEUED).update(
            status=TaskStatus.CANCELLED, completed=now
        )
    step_run.status = StepStatus.CANCELLED
    step_run.finished = now
    step_run.deadline = None
    step_run.save()


def _append_log(step_run: StepRun, lines: list[str]) -> None:
    """Add lines to the step's log and, marked with the step, to the run's."""
    if not lines:
        return
    step_run.log += "".join(f"{line}\n" for line in lines)
    run = step_run.run
    run.log += "".join(f"[step {step_run.order}] {line}\n" for line in lines)
    PlaybookRun.objects.filter(pk=run.pk).update(log=run.log)


def _event(kind: str, summary: str, step_run: StepRun, **details: Any) -> None:
    run = step_run.run
    record_event(
        kind,
        summary,
        subject=run,
        endpoint_id=run.endpoint_id,
        playbook_id=run.playbook_id,
        playbook_version=run.playbook_version,
        run_id=run.pk,
        details={
            "step": step_run.order,
            "action": step_run.action,
            "attempts": step_run.attempts,
            **details,
        },
    )


def _on_succeeded(step_run: StepRun, outcome: Outcome, now: dt.datetime) -> None:
    step_run.status = StepStatus.SUCCEEDED
    step_run.result = outcome.result
    step_run.error = ""
    step_run.finished = now
    step_run.deadline = None
    step_run.save()
    _event(
        "step.succeeded",
        f"Step {step_run.order} ({step_run.action}) succeeded",
        step_run,
    )
    _advance(step_run.run, step_run.order, now)


def _on_failed(step_run: StepRun, outcome: Outcome, now: dt.datetime) -> None:
    fail_step(step_run, outcome.error, now)


def fail_step(step_run: StepRun, error: str, now: dt.datetime) -> None:
    """Mark a step failed, then stop or continue the run per its on_failure."""
    step_run.status = StepStatus.FAILED
    step_run.error = error
    step_run.finished = now
    step_run.deadline = None
    step_run.waiting_for = WaitingFor.NOTHING
    step_run.save()
    _event(
        "step.failed",
        f"Step {step_run.order} ({step_run.action}) failed: {error}",
        step_run,
        error=error,
    )
    if step_run.on_failure == OnFailure.CONTINUE:
        _advance(step_run.run, step_run.order, now)
    else:
        _finish_run(
            step_run.run, RunStatus.FAILED, f"step {step_run.order}: {error}", now
        )


def _on_retry(step_run: StepRun, outcome: Outcome, now: dt.datetime) -> None:
    if step_run.attempts >= step_run.max_attempts:
        fail_step(
            step_run,
            f"gave up after {step_run.attempts} attempts: {outcome.error}",
            now,
        )
        return
    # Jitter needs no cryptographic randomness.
    jitter = random.Random()  # noqa: S311
    delay = retry_delay(step_run.backoff_seconds, step_run.attempts, jitter)
    due = now + dt.timedelta(seconds=delay)
    step_run.status = StepStatus.PENDING
    step_run.error = outcome.error
    step_run.not_before = due
    step_run.deadline = None
    step_run.save()
    _event(
        "step.retrying",
        f"Step {step_run.order} ({step_run.action}) failed and retries in "
        f"{delay:.0f} s: {outcome.error}",
        step_run,
        error=outcome.error,
        retry_at=due.isoformat(),
    )
    step_run_id = step_run.pk
    transaction.on_commit(lambda: schedule_step(step_run_id, due))


def _on_wait_task(step_run: StepRun, outcome: Outcome, now: dt.datetime) -> None:
    # Lock the task, so a result that lands meanwhile waits for this commit
    # and its signal then finds the step waiting.
    task = AgentTask.objects.select_for_update().get(pk=int(outcome.task_id or 0))
    step_run.agent_task = task
    step_run.phase = StepPhase.RESUME
    step_run.deadline = None
    if task.status in TASK_TERMINAL:
        step_run.status = StepStatus.PENDING
        step_run.not_before = now
        step_run.save()
        step_run_id = step_run.pk
        transaction.on_commit(lambda: enqueue_step(step_run_id))
        return
    step_run.status = StepStatus.WAITING
    step_run.waiting_for = WaitingFor.AGENT_TASK
    step_run.save()
    _set_run_waiting(step_run.run)
    _event(
        "step.waiting",
        f"Step {step_run.order} ({step_run.action}) waits for agent task {task.pk}",
        step_run,
        agent_task_id=task.pk,
    )


def _on_wait_time(step_run: StepRun, outcome: Outcome, now: dt.datetime) -> None:
    until = outcome.until or now
    step_run.status = StepStatus.WAITING
    step_run.waiting_for = WaitingFor.TIME
    step_run.phase = StepPhase.RESUME
    step_run.not_before = until
    step_run.deadline = None
    step_run.save()
    _set_run_waiting(step_run.run)
    step_run_id = step_run.pk
    transaction.on_commit(lambda: schedule_step(step_run_id, until))


def _on_wait_approval(step_run: StepRun, outcome: Outcome, now: dt.datetime) -> None:
    _wait_for_approval(step_run, now, from_status=StepStatus.RUNNING)


_OUTCOME_HANDLERS = {
    "succeeded": _on_succeeded,
    "failed": _on_failed,
    "retry": _on_retry,
    "wait_task": _on_wait_task,
    "wait_time": _on_wait_time,
    "wait_approval": _on_wait_approval,
}


def _set_run_waiting(run: PlaybookRun) -> None:
    PlaybookRun.objects.filter(pk=run.pk, status__in=RUN_ACTIVE).update(
        status=RunStatus.WAITING
    )


def _wait_for_approval(
    step_run: StepRun, now: dt.datetime, *, from_status: str
) -> None:
    """Mark the step waiting and ask the registered requester for a decision."""
    with transaction.atomic():
        moved = StepRun.objects.filter(pk=step_run.pk, status=from_status).update(
            status=StepStatus.WAITING,
            waiting_for=WaitingFor.APPROVAL,
            deadline=None,
            started=Coalesce(F("started"), Value(now)),
        )
        if not moved:
            return
        step_run = StepRun.objects.select_related("run__playbook").get(pk=step_run.pk)
        requester = hooks.approval_requester()
        if requester is None:
            fail_step(
                step_run,
                "the step needs approval but no approval requester is registered; "
                "install the approvals app or clear the step's approval flag",
                now,
            )
            return
        _set_run_waiting(step_run.run)
        _event(
            "step.waiting",
            f"Step {step_run.order} ({step_run.action}) waits for approval",
            step_run,
        )
        # NOTE: a requester that raises rolls the wait back, so the step stays
        # pending and sweep_due asks again every few minutes until it succeeds.
        requester(step_run)


def resume_after_approval(step_run_id: int, *, approved: bool, approval: Any) -> bool:
    """Carry on with a step after its approval was decided.

    Approved: the action executes, with `context.approval`. Rejected or
    expired: the step fails and the run follows the step's on_failure. Return
    False when the step was no longer waiting for approval (a repeat call).
    """
    now = timezone.now()
    with transaction.atomic():
        step_run = (
            StepRun.objects.select_for_update()
            .select_related("run__playbook")
            .filter(
                pk=step_run_id,
                status=StepStatus.WAITING,
                waiting_for=WaitingFor.APPROVAL,
            )
            .first()
        )
        if step_run is None:
            return False
        step_run.approval_id = getattr(approval, "pk", None)
        if not approved:
            state = getattr(approval, "status", "") or "rejected"
            step_run.approved = False
            fail_step(step_run, f"approval {state}", now)
            return True

        step_run.approved = True
        step_run.status = StepStatus.PENDING
        step_run.waiting_for = WaitingFor.NOTHING
        step_run.not_before = now
        step_run.save()
        _mark_run_running(step_run.run_id, now)
        transaction.on_commit(lambda: enqueue_step(step_run_id))
    return True


def resume_after_agent_task(task: AgentTask) -> int:
    """Make the steps waiting on a finished agent task due; return how many."""
    if task.status not in TASK_TERMINAL:
        return 0
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            StepRun.objects.filter(
                agent_task=task,
                status=StepStatus.WAITING,
                waiting_for=WaitingFor.AGENT_TASK,
            ).values_list("pk", flat=True)
        )
        for step_run_id in ids:
            moved = StepRun.objects.filter(
                pk=step_run_id, status=StepStatus.WAITING
            ).update(
                status=StepStatus.PENDING,
                waiting_for=WaitingFor.NOTHING,
                not_before=now,
            )
            if moved:
                transaction.on_commit(partial(enqueue_step, step_run_id))
    return len(ids)


def _advance(run: PlaybookRun, after_order: int, now: dt.datetime) -> None:
    """Queue the next pending step, or finish the run when none is left."""
    status = PlaybookRun.objects.values_list("status", flat=True).get(pk=run.pk)
    if status not in RUN_ACTIVE:
        return
    following = (
        run.step_runs.filter(order__gt=after_order, status=StepStatus.PENDING)
        .order_by("order")
        .first()
    )
    if following is None:
        _finish_run(run, RunStatus.SUCCEEDED, "", now)
        return
    StepRun.objects.filter(pk=following.pk).update(not_before=now)
    PlaybookRun.objects.filter(pk=run.pk, status__in=RUN_ACTIVE).update(
        status=RunStatus.RUNNING
    )
    transaction.on_commit(lambda: enqueue_step(following.pk))


def _finish_run(run: PlaybookRun, status: str, error: str, now: dt.datetime) -> None:
    finished = PlaybookRun.objects.filter(pk=run.pk, status__in=RUN_ACTIVE).update(
        status=status, finished=now, error=error
    )
    if not finished:
        return
    if status != RunStatus.SUCCEEDED:
        run.step_runs.filter(status=StepStatus.PENDING).update(
            status=StepStatus.SKIPPED, not_before=None
        )
    record_event(
        f"run.{status}",
        f"Run of {run.playbook.name} v{run.playbook_version} {status}"
        + (f": {error}" if error else ""),
        subject=run,
        endpoint_id=run.endpoint_id,
        playbook_id=run.playbook_id,
        playbook_version=run.playbook_version,
        run_id=run.pk,
        details={"error": error} if error else {},
    )
    logger.info("run %s run_id=%s", status, run.pk)


def cancel_run(run: PlaybookRun, *, actor: Any, now: dt.datetime | None = None) -> bool:
    """Cancel an unfinished run: its pending and waiting steps, its queued tasks.

    A step that is executing at this moment finishes, and its outcome is
    recorded, but no further step starts. Return False if the run had
    finished already.
    """
    now = now or timezone.now()
    with transaction.atomic():
        run = (
            PlaybookRun.objects.select_for_update()
            .select_related("playbook")
            .get(pk=run.pk)
        )
        if run.status not in RUN_ACTIVE:
            return False
        stopping = run.step_runs.filter(
            status__in=[StepStatus.PENDING, StepStatus.WAITING]
        )
        task_ids = [
            task_id
            for task_id in stopping.values_list("agent_task_id", flat=True)
            if task_id
        ]
        withdrawn = AgentTask.objects.filter(
            pk__in=task_ids, status=TaskStatus.QUEUED
        ).update(status=TaskStatus.CANCELLED, completed=now)
        cancelled_steps = stopping.update(
            status=StepStatus.CANCELLED, finished=now, not_before=None
        )

        actor_name = getattr(actor, "username", None) or "the automation"
        run.status = RunStatus.CANCELLED
        run.finished = now
        run.error = f"cancelled by {actor_name}"
        run.log += f"{now.isoformat()} run cancelled by {actor_name}\n"
        run.save(update_fields=["status", "finished", "error", "log"])
        record_event(
            "run.cancelled",
            f"Cancelled the run of {run.playbook.name} v{run.playbook_version}",
            actor=actor,
            subject=run,
            endpoint_id=run.endpoint_id,
            playbook_id=run.playbook_id,
            playbook_version=run.playbook_version,
            run_id=run.pk,
            details={"steps_cancelled": cancelled_steps, "tasks_withdrawn": withdrawn},
        )
        transaction.on_commit(
            lambda: signals.run_cancelled.send(sender=PlaybookRun, run=run, actor=actor)
        )
    logger.info("run cancelled run_id=%s by=%s", run.pk, actor_name)
    return True


def recover_lost_steps(now: dt.datetime) -> dict[str, int]:
    """Handle steps still running past their deadline, whose worker died.

    An idempotent action is queued again; any other fails, since running it a
    second time could repeat what the lost attempt already did. Steps that
    wait for an approval, an agent task or a timer are never touched.
    """
    counts = {"requeued": 0, "failed": 0}
    lost = StepRun.objects.filter(
        status=StepStatus.RUNNING, deadline__lt=now
    ).values_list("pk", "action", "attempts")
    for step_run_id, action_name, attempts in lost:
        try:
            idempotent = get_action(action_name).idempotent
        except KeyError:
            idempotent = False
        if idempotent:
            counts["requeued"] += _requeue_lost(step_run_id, attempts, now)
        else:
            counts["failed"] += _fail_lost(step_run_id, attempts, now)
    return counts


def _requeue_lost(step_run_id: int, attempts: int, now: dt.datetime) -> int:
    with transaction.atomic():
        moved = StepRun.objects.filter(
            pk=step_run_id, status=StepStatus.RUNNING, attempts=attempts
        ).update(status=StepStatus.PENDING, deadline=None, not_before=now)
        if moved:
            step_run = StepRun.objects.select_related("run__playbook").get(
                pk=step_run_id
            )
            _append_log(step_run, [f"{now.isoformat()} worker lost; queued again"])
            step_run.save(update_fields=["log"])
            _event(
                "step.requeued",
                f"Step {step_run.order} ({step_run.action}) lost its worker and "
                "was queued again",
                step_run,
            )
            transaction.on_commit(lambda: enqueue_step(step_run_id))
    return moved


def _fail_lost(step_run_id: int, attempts: int, now: dt.datetime) -> int:
    with transaction.atomic():
        step_run = (
            StepRun.objects.select_for_update()
            .select_related("run__playbook")
            .filter(pk=step_run_id, status=StepStatus.RUNNING, attempts=attempts)
            .first()
        )
        if step_run is None:
            return 0
        fail_step(step_run, WORKER_LOST, now)
    return 1


def sweep_due(now: dt.datetime) -> dict[str, int]:
    """Queue again due work whose task went missing, and end expired agent tasks.

    Every claim is conditional, so queuing a step that is already queued
    does no harm.
    """
    counts = {"queued": 0, "tasks_expired": 0, "tasks_finished": 0}
    late = now - LOST_TASK_GRACE
    due = StepRun.objects.filter(
        Q(status=StepStatus.PENDING) | Q(status=StepStatus.WAITING, waiting_for="time"),
        not_before__lte=late,
        run__status__in=RUN_ACTIVE,
    ).values_list("pk", flat=True)
    for step_run_id in due:
        enqueue_step(step_run_id)
        counts["queued"] += 1

    waiting = StepRun.objects.filter(
        status=StepStatus.WAITING, waiting_for=WaitingFor.AGENT_TASK
    ).select_related("agent_task")
    for step_run in waiting:
        task = step_run.agent_task
        if task is None:
            continue
        if task.status == TaskStatus.QUEUED and task.expires <= now:
            # The endpoint never checked in before the expiry, so the task is
            # never delivered and the step fails with that reason.
            expired = AgentTask.objects.filter(
                pk=task.pk, status=TaskStatus.QUEUED
            ).update(
                status=TaskStatus.EXPIRED,
                completed=now,
                error="expired before the endpoint checked in",
            )
            counts["tasks_expired"] += expired
            task.refresh_from_db()
        if task.status in TASK_TERMINAL:
            counts["tasks_finished"] += resume_after_agent_task(task)
    return counts
