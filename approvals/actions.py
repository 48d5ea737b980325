"""Approval workflows: ask, decide, expire, cancel and check before execution.

Each change happens in one transaction that writes the audit event with it;
resuming the run waits until that transaction commits. Decisions lock the
request row, and expiry and cancellation are conditional UPDATEs on the
request's own columns, so whatever the timing exactly one outcome wins.
"""

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals import notify
from approvals.choices import ApprovalStatus, NotificationKind
from approvals.errors import DecisionNotAllowed, InvalidDecision, RequestClosed
from approvals.models import ApprovalDecision, ApprovalPolicy, ApprovalRequest
from approvals.permissions import denial_reason
from approvals.snapshot import (
    as_json,
    binding_hash,
    context_snapshot,
    target_label,
    target_of,
)
from exec_site.events import record_event
from playbooks import engine
from playbooks.actions import Action, ActionContext, PermanentError, get_action
from playbooks.choices import RUN_ACTIVE, StepStatus, WaitingFor
from playbooks.context import render_parameters, run_values
from playbooks.models import PlaybookRun, StepRun

logger = logging.getLogger(__name__)

# A step still waiting this long after its request was decided lost its
# resume, because the process stopped after the commit. The sweep resumes it.
RESUME_GRACE = dt.timedelta(minutes=1)


def _timestamp(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "an unknown time"


def _event(kind: str, summary: str, request: ApprovalRequest, **fields: Any) -> None:
    actor = fields.pop("actor", None)
    record_event(
        kind,
        summary,
        actor=actor,
        subject=request,
        endpoint_id=request.endpoint_id,
        playbook_id=request.playbook_id,
        playbook_version=request.playbook_version,
        run_id=request.run_id,
        details={"approval_id": request.pk, "action": request.action, **fields},
    )


def _resume_on_commit(request: ApprovalRequest, approved: bool) -> None:
    step_run_id = request.step_run_id
    transaction.on_commit(
        lambda: engine.resume_after_approval(
            step_run_id, approved=approved, approval=request
        )
    )


# Asking


def _required_approvals(step_run: StepRun) -> int:
    policy = ApprovalPolicy.objects.filter(playbook_id=step_run.run.playbook_id)
    required = policy.values_list("required_approvals", flat=True).first()
    return max(required or 1, 1)


def _timeout(step_run: StepRun) -> dt.timedelta:
    minutes = (
        step_run.approval_timeout_minutes or settings.EXEC_APPROVAL_TIMEOUT_MINUTES
    )
    return dt.timedelta(minutes=minutes)


def _remind_at(requested: dt.datetime, expires: dt.datetime) -> dt.datetime | None:
    percent = settings.EXEC_APPROVAL_REMINDER_PERCENT
    if not percent:
        return None
    return expires - (expires - requested) * percent / 100


def _summary(action: Action, context: ActionContext) -> str:
    """Return the action's sentence, or the generic one when describe() fails."""
    try:
        return action.describe(context)
    except Exception:
        logger.exception(
            "describe failed step_run_id=%s action=%s",
            context.step_run.pk,
            action.name,
        )
        return Action.describe(action, context)


def _checked_options(action: Action, context: ActionContext) -> tuple[list, str]:
    """Ask the action for its options; return them and an error text, if any."""
    try:
        options = as_json(action.approval_options(context))
    except Exception as error:
        logger.exception(
            "approval options failed step_run_id=%s action=%s",
            context.step_run.pk,
            action.name,
        )
        return [], f"the action could not list its options: {error}"
    ids = [option.get("id") if isinstance(option, dict) else None for option in options]
    if not all(isinstance(option_id, str) and option_id for option_id in ids):
        return [], "the action returned options without a string id; none are shown"
    if len(set(ids)) != len(ids):
        return [], f"the action returned options with repeated ids: {ids}"
    for option in options:
        option.setdefault("label", option.get("display_name") or option["id"])
    return options, ""


def request_approval(step_run: StepRun) -> ApprovalRequest | None:
    """Create the approval request of a step that waits for a decision.

    The engine calls this, as its approval requester, inside the transaction
    that made the step wait. A step whose parameters do not render, or that
    already had a request, fails instead; None is returned then.
    """
    now = timezone.now()
    if ApprovalRequest.objects.filter(step_run=step_run).exists():
        engine.fail_step(
            step_run,
            "the step asked for approval a second time; an approval covers one "
            "execution, so start the playbook again",
            now,
        )
        return None
    action = get_action(step_run.action)
    try:
        context = engine.action_context(step_run, now)
    except PermanentError as error:
        engine.fail_step(step_run, f"cannot ask for approval: {error}", now)
        return None
    summary = _summary(action, context)

    run = step_run.run
    options, options_error = _checked_options(action, context)
    target = target_of(run)
    expires = now + _timeout(step_run)
    request = ApprovalRequest.objects.create(
        step_run=step_run,
        run=run,
        playbook_id=run.playbook_id,
        playbook_version=run.playbook_version,
        endpoint_id=run.endpoint_id,
        endpoint_user_id=run.endpoint_user_id,
        detection_id=run.detection_id,
        action=action.name,
        action_label=action.label,
        parameters=context.parameters,
        target=target,
        target_label=target_label(run.endpoint, run.endpoint_user),
        summary=summary,
        binding_hash=binding_hash(action.name, context.parameters, target),
        context=context_snapshot(step_run),
        options=options,
        options_error=options_error,
        required_approvals=_required_approvals(step_run),
        requested=now,
        expires=expires,
        remind_at=_remind_at(now, expires),
    )
    _event(
        "approval.requested",
        f"Approval requested: {summary}",
        request,
        expires=_timestamp(expires),
        required_approvals=request.required_approvals,
        options=[option["id"] for option in options],
    )
    request_id = request.pk
    transaction.on_commit(lambda: notify.enqueue(request_id, NotificationKind.REQUEST))
    logger.info(
        "approval requested approval_id=%s run_id=%s step_run_id=%s expires=%s",
        request.pk,
        run.pk,
        step_run.pk,
        _timestamp(expires),
    )
    return request


def approval_requester(step_run: StepRun) -> None:
    """Create the request of a waiting step; the engine's approval requester hook."""
    request_approval(step_run)


# Executing


def load_approval(step_run: StepRun) -> ApprovalRequest:
    """Return the approved request of a step about to execute, after checking it.

    The engine calls this, as its approval loader, when it builds the context
    of an approved step. Raise PermanentError, which fails the step, unless
    the request is approved and the step's parameters and target still give
    the approved binding hash. A retry of the same step run after a transient
    failure passes again, because it is the same authorized execution. No
    other step run can use the request, which belongs to this step run alone.
    """
    request = ApprovalRequest.objects.filter(step_run_id=step_run.pk).first()
    if request is None or request.pk != step_run.approval_id:
        raise PermanentError(
            f"step run {step_run.pk} has no approval request; it does not execute"
        )
    if request.status != ApprovalStatus.APPROVED:
        raise PermanentError(
            f"approval {request.pk} is {request.status}, not approved; the step "
            "does not execute"
        )
    run = step_run.run
    try:
        parameters = render_parameters(step_run.parameters, run_values(run))
    except Exception as error:
        raise PermanentError(f"parameter template failed: {error}") from None
    current = binding_hash(step_run.action, parameters, target_of(run))
    if current != request.binding_hash:
        raise PermanentError(
            f"the step's action, parameters or target changed since approval "
            f"{request.pk} was decided; the approved action does not execute. "
            "Start the playbook again to ask for a new approval."
        )
    ApprovalRequest.objects.filter(pk=request.pk, executed__isnull=True).update(
        executed=timezone.now()
    )
    return request


# Deciding


def closed_message(request: ApprovalRequest) -> str:
    """Return a sentence saying who closed the request and when."""
    when = _timestamp(request.closed)
    if request.status == ApprovalStatus.APPROVED:
        names = ", ".join(
            decision.actor.get_username()
            for decision in request.decisions.filter(approved=True).select_related(
                "actor"
            )
        )
        return f"already approved by {names} at {when}"
    if request.status == ApprovalStatus.REJECTED:
        decision = request.decisions.filter(approved=False).select_related("actor")
        first = decision.first()
        name = first.actor.get_username() if first else "someone"
        return f"already rejected by {name} at {when}"
    if request.status == ApprovalStatus.EXPIRED:
        return f"expired at {_timestamp(request.expires)}"
    return f"cancelled at {when}: {request.closed_reason}"


def _chosen_option(
    request: ApprovalRequest, option_id: str | None, counted: list[ApprovalDecision]
) -> dict[str, Any] | None:
    """Check the approver's option against the request and earlier approvals."""
    if not request.options:
        if option_id:
            raise InvalidDecision(
                "option", f"approval {request.pk} has no options; send no option"
            )
        return None
    if not option_id:
        ids = ", ".join(option["id"] for option in request.options)
        raise InvalidDecision("option", f"choose one of the options: {ids}")
    option = request.option(option_id)
    if option is None:
        ids = ", ".join(o["id"] for o in request.options)
        raise InvalidDecision(
            "option", f"unknown option {option_id!r}; choose one of: {ids}"
        )
    if counted and counted[0].option_id != option_id:
        raise InvalidDecision(
            "option",
            f"{counted[0].actor.get_username()} approved option "
            f"{counted[0].option_id!r}; approve that option or reject the request",
        )
    return option


def _close(
    request: ApprovalRequest, status: str, now: dt.datetime, reason: str = ""
) -> None:
    request.status = status
    request.closed = now
    request.closed_reason = reason
    request.save(update_fields=["status", "closed", "closed_reason", "chosen_option"])


def _expire_locked(request: ApprovalRequest, now: dt.datetime) -> None:
    _close(request, ApprovalStatus.EXPIRED, now, "no decision before it expired")
    _event(
        "approval.expired",
        f"Approval expired at {_timestamp(request.expires)}: {request.summary}",
        request,
        expires=_timestamp(request.expires),
    )
    _resume_on_commit(request, approved=False)
    logger.info("approval expired approval_id=%s run_id=%s", request.pk, request.run_id)


def _step_stopped(request: ApprovalRequest) -> str:
    """Return why the step no longer waits for this request, or ""."""
    run_status = PlaybookRun.objects.values_list("status", flat=True).get(
        pk=request.run_id
    )
    if run_status not in RUN_ACTIVE:
        return f"the run is {run_status}"
    step = StepRun.objects.values("status", "waiting_for").get(pk=request.step_run_id)
    if (
        step["status"] != StepStatus.WAITING
        or step["waiting_for"] != WaitingFor.APPROVAL
    ):
        return f"the step is {step['status']} and no longer waits for approval"
    return ""


def decide_approval(
    request: ApprovalRequest,
    *,
    actor: Any,
    approved: bool,
    option_id: str | None = None,
    comment: str = "",
) -> ApprovalRequest:
    """Record one person's approval or rejection and close the request when due.

    A rejection needs a comment and ends the request at once. Approvals count
    distinct active users until `required_approvals` is reached. A request
    past its expiry is expired by this call, which then raises
    RequestClosed("expired at ..."). Raise DecisionNotAllowed (the user may
    not decide), InvalidDecision (a missing comment or a wrong option) or
    RequestClosed (decided, expired or cancelled already).
    """
    now = timezone.now()
    comment = (comment or "").strip()
    if not approved and not comment:
        raise InvalidDecision(
            "comment", "a rejection needs a comment that says why the step must not run"
        )

    with transaction.atomic():
        locked = (
            ApprovalRequest.objects.select_for_update()
            .select_related("run", "playbook")
            .get(pk=request.pk)
        )
        denial = denial_reason(actor, locked)
        if denial:
            raise DecisionNotAllowed(denial)
        closed = _close_if_stale(locked, now)
        if not closed:
            _record_decision(locked, actor, approved, option_id, comment, now)

    if closed:
        raise RequestClosed(closed_message(locked))
    return locked


def _close_if_stale(request: ApprovalRequest, now: dt.datetime) -> bool:
    """Expire or cancel a request that can no longer be decided; True if closed."""
    if request.status != ApprovalStatus.PENDING:
        return True
    if now >= request.expires:
        _expire_locked(request, now)
        return True
    stopped = _step_stopped(request)
    if stopped:
        _cancel_locked(request, now, stopped, actor=None)
        return True
    return False


def _record_decision(
    request: ApprovalRequest,
    actor: Any,
    approved: bool,
    option_id: str | None,
    comment: str,
    now: dt.datetime,
) -> None:
    earlier = request.decisions.filter(actor=actor).first()
    if earlier is not None:
        raise RequestClosed(
            f"you already approved this request at {_timestamp(earlier.decided)}; "
            f"it needs {request.required_approvals} approvals from different people"
        )
    counted = list(
        request.decisions.filter(approved=True, actor__is_active=True)
        .select_related("actor")
        .order_by("decided", "id")
    )
    option = _chosen_option(request, option_id, counted) if approved else None
    ApprovalDecision.objects.create(
        request=request,
        actor=actor,
        approved=approved,
        option_id=(option_id or "") if approved else "",
        option=option,
        comment=comment,
        decided=now,
    )

    approvals = len(counted) + 1 if approved else len(counted)
    final = not approved or approvals >= request.required_approvals
    if final:
        request.chosen_option = option
        _close(
            request,
            ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED,
            now,
        )
        _resume_on_commit(request, approved=approved)

    verb = "approved" if approved else "rejected"
    progress = f" ({approvals} of {request.required_approvals})" if approved else ""
    _event(
        "approval.decided",
        f"{actor.get_username()} {verb}{progress}: {request.summary}",
        request,
        actor=actor,
        approved=approved,
        option=option_id or "",
        comment=comment,
        approvals=approvals,
        required_approvals=request.required_approvals,
        status=request.status,
    )
    logger.info(
        "approval decided approval_id=%s by=%s approved=%s status=%s",
        request.pk,
        actor.pk,
        approved,
        request.status,
    )


# Expiry, cancellation and the sweep


def expire_request(request_id: int, now: dt.datetime) -> bool:
    """Expire one pending request past its expiry; False if it was not due."""
    with transaction.atomic():
        request = (
            ApprovalRequest.objects.select_for_update()
            .filter(pk=request_id, status=ApprovalStatus.PENDING, expires__lte=now)
            .first()
        )
        if request is None:
            return False
        _expire_locked(request, now)
    return True


def _cancel_locked(
    request: ApprovalRequest, now: dt.datetime, reason: str, actor: Any
) -> None:
    _close(request, ApprovalStatus.CANCELLED, now, reason)
    _event(
        "approval.cancelled",
        f"Approval cancelled ({reason}): {request.summary}",
        request,
        actor=actor,
        reason=reason,
    )
    logger.info(
        "approval cancelled approval_id=%s run_id=%s", request.pk, request.run_id
    )


def cancel_requests_for_run(run_id: int, *, actor: Any, now: dt.datetime) -> int:
    """Cancel the pending requests of a cancelled run; return how many."""
    who = actor.get_username() if actor is not None else "the automation"
    reason = f"run {run_id} was cancelled by {who}"
    with transaction.atomic():
        pending = ApprovalRequest.objects.select_for_update().filter(
            run_id=run_id, status=ApprovalStatus.PENDING
        )
        cancelled = 0
        for request in pending:
            _cancel_locked(request, now, reason, actor=actor)
            cancelled += 1
    return cancelled


def _cancel_orphans(now: dt.datetime) -> int:
    """Cancel pending requests whose step stopped waiting by another route."""
    orphans = (
        ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING)
        .exclude(
            step_run__status=StepStatus.WAITING,
            step_run__waiting_for=WaitingFor.APPROVAL,
        )
        .values_list("pk", flat=True)
    )
    cancelled = 0
    for request_id in orphans:
        with transaction.atomic():
            request = (
                ApprovalRequest.objects.select_for_update()
                .filter(pk=request_id, status=ApprovalStatus.PENDING)
                .first()
            )
            reason = _step_stopped(request) if request else ""
            if request is not None and reason:
                _cancel_locked(request, now, reason, actor=None)
                cancelled += 1
    return cancelled


def _resume_lost(now: dt.datetime) -> int:
    """Resume steps whose request was closed but whose resume never ran."""
    stuck = ApprovalRequest.objects.filter(
        status__in=[
            ApprovalStatus.APPROVED,
            ApprovalStatus.REJECTED,
            ApprovalStatus.EXPIRED,
        ],
        closed__lte=now - RESUME_GRACE,
        step_run__status=StepStatus.WAITING,
        step_run__waiting_for=WaitingFor.APPROVAL,
    )
    resumed = 0
    for request in stuck:
        approved = request.status == ApprovalStatus.APPROVED
        if engine.resume_after_approval(
            request.step_run_id, approved=approved, approval=request
        ):
            logger.warning(
                "resumed a step whose resume was lost approval_id=%s", request.pk
            )
            resumed += 1
    return resumed


def _send_due_reminders(now: dt.datetime) -> int:
    due = ApprovalRequest.objects.filter(
        status=ApprovalStatus.PENDING,
        reminded__isnull=True,
        remind_at__lte=now,
        expires__gt=now,
    ).values_list("pk", flat=True)
    sent = 0
    for request_id in due:
        claimed = ApprovalRequest.objects.filter(
            pk=request_id, reminded__isnull=True
        ).update(reminded=now)
        if claimed:
            notify.enqueue(request_id, NotificationKind.REMINDER)
            sent += 1
    return sent


def sweep(now: dt.datetime) -> dict[str, int]:
    """Expire due requests, send due reminders and tidy up after lost work."""
    due = ApprovalRequest.objects.filter(
        status=ApprovalStatus.PENDING, expires__lte=now
    ).values_list("pk", flat=True)
    expired = sum(expire_request(request_id, now) for request_id in due)
    return {
        "expired": expired,
        "reminded": _send_due_reminders(now),
        "cancelled": _cancel_orphans(now),
        "resumed": _resume_lost(now),
    }
