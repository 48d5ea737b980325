"""Workflows of the audit app: report requests, share links and their use.

Each function does its whole change in one transaction and records its own
audit event in it.
"""

import logging
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from audit import choices
from audit.choices import ReportStatus
from audit.models import ReportJob, ReportShare
from audit.pdf import render_pdf
from audit.report import UTC, build_report_data
from audit.timeline import filter_events
from exec_site.events import record_event

logger = logging.getLogger(__name__)

SHARE_SALT = "exec.audit.report-share"
DEFAULT_SHARE_DAYS = 7
MAX_SHARE_DAYS = 90


class ShareError(Exception):
    """A share link that cannot be used; the message is safe to show."""


def request_report(*, since: date, until: date, user: Any) -> ReportJob:
    """Create a report job for a period; the caller builds or enqueues it."""
    if since > until:
        raise ValueError(f"until: {until} is before since {since}; swap them.")
    with transaction.atomic():
        job = ReportJob.objects.create(since=since, until=until, created_by=user)
        record_event(
            choices.REPORT_REQUESTED,
            f"Audit report requested for {since} to {until}",
            actor=user,
            subject=job,
            details={"since": since.isoformat(), "until": until.isoformat()},
        )
    return job


# Periods with more events than this are built by a background task.
INLINE_EVENT_LIMIT = 2000


def should_build_inline(job: ReportJob) -> bool:
    """Return whether a report is small enough to build within the request."""
    events = filter_events({"since": job.since, "until": job.until}, UTC)
    return events.order_by()[: INLINE_EVENT_LIMIT + 1].count() <= INLINE_EVENT_LIMIT


def _claim(job_id: int, now: datetime) -> bool:
    # A job left running longer than a task may run belongs to a worker
    # that died, so a retry of the task may take it over.
    stale = now - timedelta(seconds=settings.Q_TIMEOUT)
    return bool(
        ReportJob.objects.filter(pk=job_id)
        .filter(
            Q(status=ReportStatus.QUEUED)
            | Q(status=ReportStatus.RUNNING, started__lt=stale)
        )
        .update(status=ReportStatus.RUNNING, started=now, progress=0, error="")
    )


def _set_progress(job_id: int, percent: int) -> None:
    ReportJob.objects.filter(pk=job_id).update(progress=percent)


def build_report(job_id: int, *, now: datetime) -> bool:
    """Build a queued report's PDF and store it on the job.

    Returns False when another worker has claimed the job or it is finished, so
    running it twice is harmless.
    """
    if not _claim(job_id, now):
        logger.info("report build skipped job_id=%s: not queued", job_id)
        return False
    job = ReportJob.objects.select_related("created_by").get(pk=job_id)
    logger.info("report build started job_id=%s", job_id)
    try:
        data = build_report_data(
            since=job.since,
            until=job.until,
            generated_by=job.created_by.get_username() if job.created_by else "system",
            now=now,
        )
        _set_progress(job_id, 20)
        with tempfile.TemporaryFile() as output:
            pages = render_pdf(
                data,
                output,
                lambda percent: _set_progress(job_id, 20 + percent * 3 // 4),
            )
            output.seek(0)
            job.file.save(f"audit-report-{job.pk}.pdf", File(output), save=False)
    except Exception as error:
        logger.exception("report build failed job_id=%s", job_id)
        ReportJob.objects.filter(pk=job_id).update(
            status=ReportStatus.FAILED, error=str(error)[:2000], finished=timezone.now()
        )
        return False

    ReportJob.objects.filter(pk=job_id).update(
        status=ReportStatus.READY,
        progress=100,
        file=job.file.name,
        pages=pages,
        finished=timezone.now(),
    )
    logger.info("report build finished job_id=%s pages=%s", job_id, pages)
    return True


def share_token(share: ReportShare) -> str:
    return signing.dumps({"share": share.pk}, salt=SHARE_SALT)


def share_path(share: ReportShare) -> str:
    return reverse("audit:shared-report", args=[share_token(share)])


def share_report(
    *, report: ReportJob, user: Any, now: datetime, days: int = DEFAULT_SHARE_DAYS
) -> ReportShare:
    """Create a share link to a finished report, valid for `days` days."""
    if report.status != ReportStatus.READY:
        raise ValueError(f"report {report.pk} is {report.status}; share it when ready.")
    if not 1 <= days <= MAX_SHARE_DAYS:
        raise ValueError(f"days: {days} is invalid; use 1 to {MAX_SHARE_DAYS}.")
    with transaction.atomic():
        share = ReportShare.objects.create(
            report=report,
            created_by=user,
            created=now,
            expires=now + timedelta(days=days),
        )
        record_event(
            choices.REPORT_SHARED,
            f"Report {report.pk} shared by link {share.pk} until "
            f"{share.expires:%Y-%m-%d %H:%M} UTC",
            actor=user,
            subject=share,
            details={"report_id": report.pk, "expires": share.expires.isoformat()},
        )
    return share


def revoke_share(*, share: ReportShare, user: Any, now: datetime) -> bool:
    """Revoke a share link; returns False when it was revoked already."""
    with transaction.atomic():
        revoked = ReportShare.objects.filter(pk=share.pk, revoked__isnull=True).update(
            revoked=now, revoked_by=user
        )
        if not revoked:
            return False
        record_event(
            choices.SHARE_REVOKED,
            f"Share link {share.pk} of report {share.report_id} revoked",
            actor=user,
            subject=share,
            details={"report_id": share.report_id},
        )
    return True


@dataclass
class ShareUse:
    share: ReportShare
    report: ReportJob


def open_share(*, token: str, ip: str | None, now: datetime) -> ShareUse:
    """Check a share link and record its use, or raise ShareError.

    Uses of expired or revoked links are recorded too. Tokens with a bad
    signature name no share, so they are only logged.
    """
    try:
        payload = signing.loads(token, salt=SHARE_SALT)
        share_id = int(payload["share"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        logger.warning("share link rejected: bad signature ip=%s", ip)
        raise ShareError("This link is invalid.") from None

    with transaction.atomic():
        share = (
            ReportShare.objects.select_for_update()
            .select_related("report")
            .filter(pk=share_id)
            .first()
        )
        if share is None:
            raise ShareError("This link is invalid.")
        problem = _share_problem(share, now)
        if problem:
            record_event(
                choices.SHARE_REJECTED,
                f"Share link {share.pk} of report {share.report_id} refused: {problem}",
                actor=f"share:{share.pk}",
                subject=share,
                details={"report_id": share.report_id, "ip": ip, "reason": problem},
            )
        else:
            ReportShare.objects.filter(pk=share.pk).update(
                uses=F("uses") + 1, last_used=now
            )
            record_event(
                choices.SHARE_USED,
                f"Report {share.report_id} opened through share link {share.pk}",
                actor=f"share:{share.pk}",
                subject=share,
                details={"report_id": share.report_id, "ip": ip},
            )
    if problem:
        raise ShareError(f"This link is {problem}.")
    return ShareUse(share, share.report)


def _share_problem(share: ReportShare, now: datetime) -> str | None:
    if share.revoked is not None:
        return "revoked"
    if now >= share.expires:
        return "expired"
    if share.report.status != ReportStatus.READY or not share.report.file:
        return "no longer available"
    return None
