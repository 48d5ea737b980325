"""Statuses and other fixed values of detections, playbooks and runs."""

from django.db import models


class DetectionSource(models.TextChoices):
    GENERIC = "generic", "Generic JSON"
    WAZUH = "wazuh", "Wazuh"
    ELASTIC = "elastic", "Elastic Security"
    CROWDSTRIKE = "crowdstrike", "CrowdStrike Falcon"
    DEFENDER = "defender", "Microsoft Defender"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


# Conditions compare severities by rank, so `gte high` matches critical too.
SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


class MatchStatus(models.TextChoices):
    """How a detection's endpoint or user was resolved."""

    MATCHED = "matched", "Matched"
    NOT_FOUND = "not_found", "Not found"
    AMBIGUOUS = "ambiguous", "Ambiguous"
    NOT_REPORTED = "not_reported", "Not reported"


class TriggerType(models.TextChoices):
    DETECTION = "detection", "Detection"
    ENDPOINT_STATUS = "endpoint_status", "Endpoint status change"
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual only"


class ConditionMode(models.TextChoices):
    ALL = "all", "All conditions match"
    ANY = "any", "Any condition matches"


class PlaybookTarget(models.TextChoices):
    """What a run acts on."""

    ENDPOINT = "endpoint", "Endpoint"
    USER = "user", "Endpoint user"
    NONE = "none", "No target"


class OnFailure(models.TextChoices):
    STOP = "stop", "Stop the run"
    CONTINUE = "continue", "Continue with the next step"


class RunTrigger(models.TextChoices):
    """What started a run."""

    DETECTION = "detection", "Detection"
    ENDPOINT_STATUS = "endpoint_status", "Endpoint status change"
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


RUN_ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING})
RUN_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


STEP_TERMINAL = frozenset(
    {
        StepStatus.SUCCEEDED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.CANCELLED,
    }
)


class WaitingFor(models.TextChoices):
    """What a waiting step waits on."""

    NOTHING = "", "Nothing"
    APPROVAL = "approval", "Approval"
    AGENT_TASK = "agent_task", "Agent task"
    TIME = "time", "Time"


class StepPhase(models.TextChoices):
    """Which method of the action the next claim calls."""

    EXECUTE = "execute", "Execute"
    RESUME = "resume", "Resume"


class WatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STARTED = "started", "Run started"
    DROPPED = "dropped", "Status changed again"
