"""Notices to approvers about new requests and requests close to expiry.

Email is built in. Other apps add channels, such as Slack, with
`register_channel`. Every channel's delivery is one ApprovalNotification row,
claimed before sending, so a repeated task sends nothing twice. A failure is
logged and stored on that row and never changes the request itself.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from approvals.choices import NotificationKind, NotificationStatus
from approvals.models import ApprovalNotification, ApprovalRequest
from approvals.permissions import approvers

logger = logging.getLogger(__name__)

NOTIFY_TASK = "approvals.tasks.send_notifications"
# Stored error texts are cut to this many characters.
DETAIL_LIMIT = 2000


@dataclass(frozen=True)
class ApprovalMessage:
    """One notice, ready for any channel: subject, plain text and the link."""

    request: ApprovalRequest
    kind: str
    subject: str
    text: str
    link: str


# A channel sends the message and returns where it went (such as "#soc"), or
# None when it is not configured. Any exception counts as a failed delivery.
Channel = Callable[[ApprovalMessage], str | None]


def request_link(request: ApprovalRequest) -> str:
    path = reverse("approvals:detail", args=[request.pk])
    return f"{settings.EXEC_BASE_URL}{path}"


def build_message(request: ApprovalRequest, kind: str) -> ApprovalMessage:
    """Write the subject and text of a notice about the request."""
    expires = request.expires.isoformat(timespec="minutes")
    if kind == NotificationKind.REMINDER:
        subject = f"[Exec] Reminder: approval expires at {expires}: {request.summary}"
    else:
        subject = f"[Exec] Approval needed: {request.summary}"
    link = request_link(request)
    lines = [
        f"What will happen: {request.summary}",
        f"Target: {request.target_label}",
        f"Playbook: {request.playbook.name} v{request.playbook_version}, "
        f"run {request.run_id}",
        f"Requested: {request.requested.isoformat(timespec='minutes')}",
        f"Expires: {expires}",
        "",
        f"Approve or reject it here: {link}",
        "Nothing runs until it is approved; unanswered, it expires.",
    ]
    return ApprovalMessage(
        request=request,
        kind=kind,
        subject=subject[:200],
        text="\n".join(lines),
        link=link,
    )


def send_email(message: ApprovalMessage) -> str:
    """Email the notice to every active approver with an address but the initiator."""
    request = message.request
    recipients = list(
        approvers(request.playbook)
        .exclude(pk=request.run.started_by_id or 0)
        .values_list("email", flat=True)
    )
    if not recipients:
        raise RuntimeError(
            "no active approver of this playbook has an email address; add one "
            "in the admin so that requests reach someone"
        )
    send_mail(
        message.subject,
        message.text,
        settings.DEFAULT_FROM_EMAIL,
        recipients,
        fail_silently=False,
    )
    return f"{len(recipients)} recipients"


_CHANNELS: dict[str, Channel] = {"email": send_email}


def register_channel(name: str, channel: Channel | None) -> None:
    """Add a notice channel under `name`, or remove it with None."""
    if channel is None:
        _CHANNELS.pop(name, None)
    else:
        _CHANNELS[name] = channel


def channels() -> dict[str, Channel]:
    return dict(_CHANNELS)


def enqueue(request_id: int, kind: str) -> None:
    """Queue the notices of a request for the task cluster."""
    async_task(NOTIFY_TASK, request_id, kind, task_name=f"approval-{request_id}-{kind}")


def _claim(
    request: ApprovalRequest, kind: str, channel: str
) -> ApprovalNotification | None:
    notice, _ = ApprovalNotification.objects.get_or_create(
        request=request, kind=kind, channel=channel
    )
    claimed = ApprovalNotification.objects.filter(
        pk=notice.pk, status=NotificationStatus.PENDING
    ).update(status=NotificationStatus.SENDING)
    return notice if claimed else None


def _finish(notice: ApprovalNotification, status: str, detail: str) -> None:
    ApprovalNotification.objects.filter(pk=notice.pk).update(
        status=status, detail=detail[:DETAIL_LIMIT], finished=timezone.now()
    )


def deliver(request_id: int, kind: str) -> dict[str, str]:
    """Send one notice on every channel not yet tried; return each channel's status."""
    request = (
        ApprovalRequest.objects.select_related("playbook", "run")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        return {}
    message = build_message(request, kind)
    statuses: dict[str, str] = {}
    for name, channel in channels().items():
        notice = _claim(request, kind, name)
        if notice is None:
            continue
        try:
            where = channel(message)
        except Exception as error:
            logger.warning(
                "approval notice failed approval_id=%s kind=%s channel=%s error=%s",
                request_id,
                kind,
                name,
                error,
            )
            _finish(
                notice, NotificationStatus.FAILED, f"{type(error).__name__}: {error}"
            )
            statuses[name] = NotificationStatus.FAILED
            continue
        status = NotificationStatus.SENT if where else NotificationStatus.SKIPPED
        _finish(notice, status, where or "not configured")
        statuses[name] = status
    return statuses


def slack_channel(message: ApprovalMessage) -> str | None:
    """Post the notice to every enabled Slack connector; None when there is none.

    The first connector that fails raises, so the notice is stored as failed
    with that connector's error, and the others are still tried first.
    """
    from connectors.choices import ConnectorKind
    from connectors.models import Connector
    from connectors.notify import send_slack

    connectors = list(
        Connector.objects.filter(kind=ConnectorKind.SLACK, enabled=True).order_by(
            "name"
        )
    )
    if not connectors:
        return None

    text = f"{message.subject}\n{message.text}\n{message.link}"
    sent, errors = [], []
    for connector in connectors:
        try:
            send_slack(connector, text)
        except Exception as error:
            errors.append(f"{connector.name}: {error}")
        else:
            sent.append(connector.name)
    if errors:
        raise RuntimeError("; ".join(errors))
    return ", ".join(sent)
