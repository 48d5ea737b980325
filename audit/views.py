"""Pages of the audit app: the timeline, its exports, reports and share links.

Everything except a share link needs a login and `audit.view_auditevent`,
which the Auditors and Administrators roles hold. Creating and revoking
share links needs `audit.add_reportshare` and `audit.change_reportshare`.
"""

import json
from datetime import date
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Max
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_q.tasks import async_task

from audit import actions, choices
from audit.choices import REPORT_TERMINAL, ReportStatus
from audit.forms import ReportRequestForm
from audit.models import AuditEvent, ReportJob, ReportShare
from audit.report import UTC, build_report_data
from audit.timeline import (
    TimelineFilter,
    csv_lines,
    export_events,
    filter_events,
    json_chunks,
    page_of,
    subject_url,
)
from exec_site.events import record_event
from exec_site.timezones import (
    TIMEZONE_COOKIE,
    set_timezone_cookie,
    timezone_names,
    viewer_timezone,
)

VIEW_PERMISSION = "audit.view_auditevent"


def auditor_required(view: Any) -> Any:
    """Send anonymous users to the login page, and return 403 without permission."""
    return login_required(
        permission_required(VIEW_PERMISSION, raise_exception=True)(view)
    )


def _zone_name(request: HttpRequest) -> str:
    chosen = request.GET.get("tz") or request.COOKIES.get(TIMEZONE_COOKIE) or "UTC"
    return viewer_timezone(chosen).key


def _cursor(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit():
        raise ValueError(f"{name}: {value!r} is not a sequence number.")
    return int(value)


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


@require_GET
@auditor_required
def timeline(request: HttpRequest) -> HttpResponse:
    zone_name = _zone_name(request)
    form = TimelineFilter(request.GET or None)
    context: dict[str, Any] = {
        "form": form,
        "zone_name": zone_name,
        "zone_names": timezone_names(),
        "filters_query": _query_without(request, "before", "after"),
    }
    if request.GET and not form.is_valid():
        response = render(request, "audit/timeline.html", context, status=400)
        return response
    try:
        before, after = _cursor(request, "before"), _cursor(request, "after")
    except ValueError as error:
        return HttpResponseBadRequest(str(error))

    filters = form.cleaned_data if form.is_bound else {}
    zone = viewer_timezone(zone_name)
    page = page_of(filter_events(filters, zone), before=before, after=after)
    context["page"] = page
    context["entries"] = [(event, subject_url(event)) for event in page.events]
    with timezone.override(zone):
        response = render(request, "audit/timeline.html", context)
    if request.GET.get("tz"):
        set_timezone_cookie(response, zone_name)
    return response


def _filters_for_record(filters: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in filters.items()
        if value not in (None, "")
    }


@require_GET
@auditor_required
def export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """Stream every event of the filtered timeline as CSV or JSON."""
    form = TimelineFilter(request.GET or None)
    if request.GET and not form.is_valid():
        return HttpResponseBadRequest(
            "Invalid filter: " + json.dumps(form.errors.get_json_data())
        )
    zone_name = _zone_name(request)
    filters = form.cleaned_data if form.is_bound else {}
    recorded_filters = _filters_for_record(filters)

    # The export ends at the newest event now, so the event that records
    # the export, and anything later, is not part of it.
    head = AuditEvent.objects.aggregate(head=Max("sequence"))["head"] or 0
    record_event(
        choices.EXPORTED,
        f"Timeline exported as {fmt.upper()} by {request.user.get_username()}",
        actor=request.user,
        details={"format": fmt, "filters": recorded_filters, "up_to_sequence": head},
    )
    events = export_events(
        filter_events(filters, viewer_timezone(zone_name)).filter(sequence__lte=head)
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        response = StreamingHttpResponse(csv_lines(events), content_type="text/csv")
    else:
        meta = {
            "generated_at": timezone.now().isoformat(),
            "generated_by": request.user.get_username(),
            "filters": recorded_filters,
            "time_zone": zone_name,
            "up_to_sequence": head,
        }
        response = StreamingHttpResponse(
            json_chunks(events, meta), content_type="application/json"
        )
    response["Content-Disposition"] = f'attachment; filename="exec-audit-{stamp}.{fmt}"'
    return response


@auditor_required
def reports(request: HttpRequest) -> HttpResponse:
    """List report jobs and request a new one."""
    if request.method == "POST":
        form = ReportRequestForm(request.POST)
        if form.is_valid():
            job = actions.request_report(
                since=form.cleaned_data["since"],
                until=form.cleaned_data["until"],
                user=request.user,
            )
            if actions.should_build_inline(job):
                actions.build_report(job.pk, now=timezone.now())
            else:
                async_task("audit.tasks.build_report", job.pk, group="audit-reports")
            return redirect("audit:report", job.pk)
        status = 400
    else:
        form = ReportRequestForm()
        status = 200
    jobs = ReportJob.objects.select_related("created_by")[:25]
    return render(
        request, "audit/reports.html", {"form": form, "jobs": jobs}, status=status
    )


@require_GET
@auditor_required
def report(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ReportJob.objects.select_related("created_by"), pk=pk)
    shares = list(job.shares.select_related("created_by", "revoked_by"))
    now = timezone.now()
    context = {
        "job": job,
        "finished": job.status in REPORT_TERMINAL,
        "ready": job.status == ReportStatus.READY,
        "shares": [
            (share, actions.share_path(share), share.is_active(now)) for share in shares
        ],
        "share_days": actions.DEFAULT_SHARE_DAYS,
        "max_share_days": actions.MAX_SHARE_DAYS,
    }
    return render(request, "audit/report.html", context)


@require_GET
@auditor_required
def report_download(request: HttpRequest, pk: int) -> FileResponse:
    job = get_object_or_404(ReportJob, pk=pk, status=ReportStatus.READY)
    return _pdf_response(job)


def _pdf_response(job: ReportJob) -> FileResponse:
    if not job.file:
        raise Http404("The report file is missing.")
    return FileResponse(
        job.file.open("rb"),
        content_type="application/pdf",
        filename=f"exec-audit-report-{job.since}-{job.until}.pdf",
    )


@require_GET
@auditor_required
def report_print(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a report's content as a page to print, read from the database now."""
    job = get_object_or_404(ReportJob, pk=pk)
    data = build_report_data(
        since=job.since,
        until=job.until,
        generated_by=request.user.get_username(),
        now=timezone.now(),
    )
    with timezone.override(UTC):
        return render(request, "audit/report_print.html", {"data": data, "job": job})


@require_POST
@login_required
@permission_required("audit.add_reportshare", raise_exception=True)
def share_create(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ReportJob, pk=pk)
    try:
        days = int(request.POST.get("days") or actions.DEFAULT_SHARE_DAYS)
        actions.share_report(
            report=job, user=request.user, now=timezone.now(), days=days
        )
    except ValueError as error:
        return HttpResponseBadRequest(str(error))
    return redirect("audit:report", job.pk)


@require_POST
@login_required
@permission_required("audit.change_reportshare", raise_exception=True)
def share_revoke(request: HttpRequest, pk: int, share_pk: int) -> HttpResponse:
    share = get_object_or_404(ReportShare, pk=share_pk, report_id=pk)
    actions.revoke_share(share=share, user=request.user, now=timezone.now())
    return redirect("audit:report", pk)


@require_GET
def shared_report(request: HttpRequest, token: str) -> HttpResponseBase:
    """Serve a shared report to anyone holding a valid link."""
    try:
        use = actions.open_share(
            token=token, ip=request.META.get("REMOTE_ADDR"), now=timezone.now()
        )
    except actions.ShareError as error:
        return render(
            request, "audit/share_refused.html", {"message": str(error)}, status=410
        )
    response = _pdf_response(use.report)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
