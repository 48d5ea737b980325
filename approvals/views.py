"""The approval inbox and the page of one request, with its approve and reject forms."""

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, F, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from approvals.actions import decide_approval
from approvals.choices import ApprovalStatus
from approvals.errors import ApprovalError
from approvals.forms import ApproveForm, RejectForm
from approvals.models import ApprovalRequest
from approvals.permissions import denial_reason, may_see_inbox, visible_requests
from endpoints.models import StatusChange
from playbooks.models import Playbook

PAGE_SIZE = 50
RECENT_STATUS_CHANGES = 10


def inbox_order(requests: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    """Order pending requests first, oldest first, then the rest, newest first."""
    pending = Value(ApprovalStatus.PENDING)
    return requests.annotate(
        closed_rank=Case(
            When(status=pending, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        pending_since=Case(When(status=pending, then=F("requested"))),
    ).order_by("closed_rank", F("pending_since").asc(nulls_last=True), "-requested")


def _filtered(request: HttpRequest, requests: QuerySet) -> tuple[QuerySet, dict]:
    filters = {
        "status": request.GET.get("status", ""),
        "playbook": request.GET.get("playbook", ""),
        "endpoint": request.GET.get("endpoint", "").strip(),
    }
    if filters["status"] in ApprovalStatus.values:
        requests = requests.filter(status=filters["status"])
    else:
        filters["status"] = ""
    if filters["playbook"].isdigit():
        requests = requests.filter(playbook_id=int(filters["playbook"]))
    else:
        filters["playbook"] = ""
    if filters["endpoint"]:
        requests = requests.filter(endpoint__hostname__icontains=filters["endpoint"])
    return requests, filters


@require_GET
@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    if not may_see_inbox(request.user):
        raise PermissionDenied("you may not see approval requests")
    visible = visible_requests(request.user)
    requests, filters = _filtered(request, visible)
    requests = inbox_order(requests).select_related("playbook", "endpoint")
    page = Paginator(requests, PAGE_SIZE).get_page(request.GET.get("page"))
    playbooks = Playbook.objects.filter(pk__in=visible.values("playbook_id")).only(
        "pk", "name"
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "approvals/inbox.html",
        {
            "page": page,
            "filters": filters,
            "statuses": ApprovalStatus.choices,
            "playbooks": playbooks,
            "query": query.urlencode(),
        },
    )


def _detail_context(request: HttpRequest, approval: ApprovalRequest) -> dict[str, Any]:
    status_changes: list[StatusChange] = []
    if approval.endpoint_id:
        status_changes = list(
            StatusChange.objects.filter(endpoint_id=approval.endpoint_id)[
                :RECENT_STATUS_CHANGES
            ]
        )
    denial = denial_reason(request.user, approval) if approval.is_pending else ""
    return {
        "approval": approval,
        "denial": denial,
        "read_only": not approval.is_pending or bool(denial),
        "decisions": approval.decisions.select_related("actor"),
        "notifications": approval.notifications.all(),
        "steps": approval.run.step_runs.order_by("order"),
        "status_changes": status_changes,
        "parameters_json": json.dumps(approval.parameters, indent=2, sort_keys=True),
    }


def _approval_for(request: HttpRequest, approval_id: int) -> ApprovalRequest:
    queryset = visible_requests(request.user).select_related(
        "playbook", "run__started_by", "endpoint", "endpoint_user", "step_run"
    )
    return get_object_or_404(queryset, pk=approval_id)


@require_GET
@login_required
def detail(request: HttpRequest, approval_id: int) -> HttpResponse:
    approval = _approval_for(request, approval_id)
    context = _detail_context(request, approval)
    context["approve_form"] = ApproveForm(request=approval)
    context["reject_form"] = RejectForm()
    return render(request, "approvals/detail.html", context)


def _decide(request: HttpRequest, approval_id: int, approved: bool) -> HttpResponse:
    approval = _approval_for(request, approval_id)
    approve_form = ApproveForm(request.POST if approved else None, request=approval)
    reject_form = RejectForm(None if approved else request.POST)
    form = approve_form if approved else reject_form
    status = 400
    error = denial_reason(request.user, approval)
    if error:
        status = 403
    elif form.is_valid():
        try:
            decide_approval(
                approval,
                actor=request.user,
                approved=approved,
                option_id=form.cleaned_data.get("option") or None,
                comment=form.cleaned_data["comment"],
            )
        except ApprovalError as failure:
            status = failure.status_code
            error = str(failure)
        else:
            verb = "Approved" if approved else "Rejected"
            messages.success(request, f"{verb}: {approval.summary}")
            return redirect("approvals:detail", approval_id=approval.pk)

    approval.refresh_from_db()
    context = _detail_context(request, approval)
    context.update(approve_form=approve_form, reject_form=reject_form, error=error)
    return render(request, "approvals/detail.html", context, status=status)


@require_POST
@login_required
def approve(request: HttpRequest, approval_id: int) -> HttpResponse:
    return _decide(request, approval_id, approved=True)


@require_POST
@login_required
def reject(request: HttpRequest, approval_id: int) -> HttpResponse:
    return _decide(request, approval_id, approved=False)
