"""Statuses and other fixed values of endpoints and their agent tasks."""

from django.db import models


class Platform(models.TextChoices):
    WINDOWS = "windows", "Windows"
    MACOS = "macos", "macOS"
    LINUX = "linux", "Linux"


class Source(models.TextChoices):
    """The origin of an endpoint record: Exec's agent or an EDR connector."""

    AGENT = "agent", "Exec agent"
    CROWDSTRIKE = "crowdstrike", "CrowdStrike Falcon"
    DEFENDER = "defender", "Microsoft Defender"


class EndpointStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    MISSING = "missing", "Missing"
    SUSPENDED = "suspended", "Suspended"
    SHUTDOWN = "shutdown", "Shut down"
    UNINSTALLED = "uninstalled", "Uninstalled"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


# Statuses that the silence sweep may move on to offline and then missing.
SWEEPABLE = frozenset(
    {EndpointStatus.ONLINE, EndpointStatus.SUSPENDED, EndpointStatus.SHUTDOWN}
)
# An agent token of an endpoint in one of these statuses is rejected.
FINAL = frozenset({EndpointStatus.UNINSTALLED, EndpointStatus.DECOMMISSIONED})


class StatusReason(models.TextChoices):
    """The cause of a status change."""

    CHECKIN = "checkin", "Check-in"
    AGENT_EVENT = "agent_event", "Agent event"
    SWEEP = "sweep", "Silence sweep"
    OPERATOR = "operator", "Operator"
    CONNECTOR = "connector", "Connector"


class AgentEvent(models.TextChoices):
    """Events an agent reports with a check-in."""

    SHUTDOWN = "shutdown", "Shutting down"
    SUSPENDED = "suspended", "Going to sleep"
    UNINSTALLED = "uninstalled", "Uninstalled"


class TaskStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


TASK_TERMINAL = frozenset(
    {
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.EXPIRED,
        TaskStatus.CANCELLED,
    }
)
# Results an agent may report for a task it received.
TASK_REPORTABLE = frozenset(
    {TaskStatus.RUNNING, TaskStatus.SUCCEEDED, TaskStatus.FAILED}
)
