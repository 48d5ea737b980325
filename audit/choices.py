"""Event kinds that the audit app writes itself, and report job statuses."""

from django.db import models

# Kinds written by the audit app. Other apps choose their own kinds, such as
# `endpoint.status_changed`, so the timeline treats `kind` as free text.
CONFIG_CHANGED = "config.changed"
LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
LOGOUT = "auth.logout"
EXPORTED = "audit.exported"
REPORT_REQUESTED = "audit.report_requested"
REPORT_SHARED = "audit.report_shared"
SHARE_REVOKED = "audit.share_revoked"
SHARE_USED = "audit.share_used"
SHARE_REJECTED = "audit.share_rejected"

AUDIT_KINDS = (
    CONFIG_CHANGED,
    LOGIN,
    LOGIN_FAILED,
    LOGOUT,
    EXPORTED,
    REPORT_REQUESTED,
    REPORT_SHARED,
    SHARE_REVOKED,
    SHARE_USED,
    SHARE_REJECTED,
)

# Actor labels for events that no user caused.
AUTOMATION = "automation"
SYSTEM = "system"
ANONYMOUS = "anonymous"


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


REPORT_TERMINAL = frozenset({ReportStatus.READY, ReportStatus.FAILED})
