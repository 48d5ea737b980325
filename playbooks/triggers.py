"""Start playbooks on their triggers: detections, status changes and schedules."""

import datetime as dt
import logging
import zoneinfo
from typing import Any

from croniter import croniter
from django.db import IntegrityError, transaction
from django.db.models import Q

from endpoints.models import Endpoint, StatusChange
from playbooks.choices import PlaybookTarget, RunTrigger, TriggerType, WatchStatus
from playbooks.conditions import endpoint_filter, matches
from playbooks.context import (
    detection_values,
    endpoint_values,
    status_change_values,
    user_values,
)
from playbooks.engine import RunNotStarted, start_run
from playbooks.models import Detection, Playbook, PlaybookRun, StatusWatch

logger = logging.getLogger(__name__)


def _enabled(trigger_type: str) -> Any:
    return Playbook.objects.filter(enabled=True, trigger_type=trigger_type)


def _try_start(playbook: Playbook, **kwargs: Any) -> PlaybookRun | None:
    try:
        return start_run(playbook, **kwargs)
    except RunNotStarted as reason:
        logger.info("run not started playbook_id=%s: %s", playbook.pk, reason)
        return None


def detection_playbooks() -> list[Playbook]:
    return list(_enabled(TriggerType.DETECTION))


def start_for_detection(
    detection: Detection,
    now: dt.datetime,
    playbooks: list[Playbook] | None = None,
) -> list[PlaybookRun]:
    """Start every enabled detection playbook whose conditions the detection meets.

    The run's unique key is the detection, the playbook and the target, so a
    detection never starts the same playbook twice for the same target.
    `playbooks` lets a caller that ingests many detections load them once.
    """
    if playbooks is None:
        playbooks = detection_playbooks()
    if not playbooks:
        return []
    event = {
        "detection": detection_values(detection),
        "endpoint": endpoint_values(detection.endpoint),
        "user": user_values(detection.endpoint_user),
    }
    runs = []
    for playbook in playbooks:
        if not matches(playbook.conditions, playbook.condition_mode, event, now):
            continue
        user = detection.endpoint_user
        if playbook.target_kind == PlaybookTarget.NONE:
            target = ""
        elif playbook.target_kind == PlaybookTarget.USER:
            target = f"user:{user.pk if user else '-'}"
        else:
            target = f"endpoint:{detection.endpoint_id or '-'}"
        run = _try_start(
            playbook,
            trigger=RunTrigger.DETECTION,
            now=now,
            detection=detection,
            endpoint=detection.endpoint,
            endpoint_user=user,
            dedup_key=f"detection:{detection.pk}:playbook:{playbook.pk}:{target}",
        )
        if run is not None:
            runs.append(run)
    return runs


def _status_matches(config: dict[str, Any], change: StatusChange) -> bool:
    old, new = config.get("from") or [], config.get("to") or []
    return (not old or change.old_status in old) and (
        not new or change.new_status in new
    )


def start_for_status_change(
    change: StatusChange, now: dt.datetime
) -> list[PlaybookRun]:
    """Start or arm the endpoint_status playbooks a status change matches.

    A playbook with `for_minutes` gets a StatusWatch, checked when it is due.
    """
    runs = []
    event = {
        "status_change": status_change_values(change),
        "endpoint": endpoint_values(change.endpoint),
    }
    for playbook in _enabled(TriggerType.ENDPOINT_STATUS):
        config = playbook.trigger_config
        if not _status_matches(config, change):
            continue
        if not matches(playbook.conditions, playbook.condition_mode, event, now):
            continue
        minutes = config.get("for_minutes", 0)
        if minutes:
            _arm_watch(playbook, change, minutes)
            continue
        run = _try_start(
            playbook,
            trigger=RunTrigger.ENDPOINT_STATUS,
            now=now,
            endpoint=change.endpoint,
            status_change=change,
            dedup_key=f"status:{change.pk}:playbook:{playbook.pk}",
        )
        if run is not None:
            runs.append(run)
    return runs


def _arm_watch(playbook: Playbook, change: StatusChange, minutes: int) -> None:
    try:
        with transaction.atomic():
            StatusWatch.objects.create(
                playbook=playbook,
                status_change=change,
                endpoint_id=change.endpoint_id,
                due=change.at + dt.timedelta(minutes=minutes),
            )
    except IntegrityError:
        pass


def check_status_watches(now: dt.datetime) -> list[PlaybookRun]:
    """Start the playbooks of due watches whose status change still holds.

    Each watch is claimed with a conditional UPDATE, so two ticks never start
    it twice. A change still holds when the endpoint is in its new status and
    no later change was recorded: a flap in between ends the watch.
    """
    runs = []
    due = StatusWatch.objects.filter(status=WatchStatus.PENDING, due__lte=now)
    for watch in due.select_related("playbook", "status_change", "endpoint"):
        change = watch.status_change
        endpoint = Endpoint.objects.get(pk=watch.endpoint_id)
        later = StatusChange.objects.filter(endpoint=endpoint).filter(
            Q(at__gt=change.at) | Q(at=change.at, pk__gt=change.pk)
        )
        still_current = endpoint.status == change.new_status and not later.exists()
        outcome = WatchStatus.STARTED if still_current else WatchStatus.DROPPED
        claimed = StatusWatch.objects.filter(
            pk=watch.pk, status=WatchStatus.PENDING
        ).update(status=outcome)
        if not claimed or not still_current or not watch.playbook.enabled:
            continue
        run = _try_start(
            watch.playbook,
            trigger=RunTrigger.ENDPOINT_STATUS,
            now=now,
            endpoint=endpoint,
            status_change=change,
            dedup_key=f"status:{change.pk}:playbook:{watch.playbook_id}",
        )
        if run is not None:
            runs.append(run)
    return runs


def next_due(config: dict[str, Any], after: dt.datetime) -> dt.datetime:
    """Return the first due time of a schedule strictly after `after` (UTC).

    Cron fields are read in the schedule's time zone. A local time that a
    spring-forward gap skips fires once, at the first valid instant after
    the gap. A local time that a fall-back repeats fires once, at its first
    occurrence.
    """
    if "interval_minutes" in config:
        return after + dt.timedelta(minutes=config["interval_minutes"])

    zone = zoneinfo.ZoneInfo(config.get("timezone", "UTC"))
    local_after = after.astimezone(zone)
    cursor = local_after.replace(tzinfo=None)
    # In a fall-back's repeated hour a candidate can map to an instant at or
    # before `after`; it is skipped, so each local time fires once.
    # NOTE: a schedule more often than hourly therefore pauses during the
    # repeated hour instead of firing in both of its passes.
    for _ in range(400):
        cursor = croniter(config["cron"], cursor).get_next(dt.datetime)
        instant = _first_instant_at_or_after(cursor, zone)
        if instant > after:
            return instant.astimezone(dt.UTC)
    raise ValueError(f"cron {config['cron']!r} has no due time after {after}")


def _first_instant_at_or_after(
    local: dt.datetime, zone: zoneinfo.ZoneInfo
) -> dt.datetime:
    """Return the earliest instant whose local wall time is `local` or later."""
    first = local.replace(tzinfo=zone, fold=0)
    if first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == local:
        return first
    # `local` falls in a gap: the gap ends at the transition, which lies
    # between the instants the two offsets give; search it minute by minute.
    instant = min(
        local.replace(tzinfo=zone, fold=fold).astimezone(dt.UTC) for fold in (0, 1)
    )
    while instant.astimezone(zone).replace(tzinfo=None) < local:
        instant += dt.timedelta(minutes=1)
    return instant.replace(second=0, microsecond=0)


def run_due_schedules(now: dt.datetime) -> list[PlaybookRun]:
    """Start every scheduled playbook that is due, once per due time.

    The due time is claimed by moving next_run on with a conditional UPDATE,
    so two schedulers never start the same due time twice.
    """
    runs = []
    due = _enabled(TriggerType.SCHEDULE).filter(next_run__lte=now)
    for playbook in due:
        following = next_due(playbook.trigger_config, max(playbook.next_run, now))
        claimed = Playbook.objects.filter(
            pk=playbook.pk, next_run=playbook.next_run
        ).update(next_run=following)
        if claimed:
            runs.extend(_start_scheduled(playbook, playbook.next_run, now))
    return runs


def _start_scheduled(
    playbook: Playbook, due: dt.datetime, now: dt.datetime
) -> list[PlaybookRun]:
    stamp = due.astimezone(dt.UTC).strftime("%Y%m%dT%H%M")
    key = f"schedule:{playbook.pk}:{stamp}"
    if playbook.target_kind != PlaybookTarget.ENDPOINT:
        run = _try_start(playbook, trigger=RunTrigger.SCHEDULE, now=now, dedup_key=key)
        return [run] if run else []

    query = endpoint_filter(playbook.conditions, playbook.condition_mode, now)
    targets = Endpoint.objects.filter(query).distinct().order_by("pk")
    runs = []
    for endpoint in targets:
        run = _try_start(
            playbook,
            trigger=RunTrigger.SCHEDULE,
            now=now,
            endpoint=endpoint,
            dedup_key=f"{key}:endpoint:{endpoint.pk}",
        )
        if run is not None:
            runs.append(run)
    return runs


def set_next_run(playbook: Playbook, now: dt.datetime) -> None:
    """Compute a schedule playbook's first due time; clear it for other kinds."""
    if playbook.trigger_type == TriggerType.SCHEDULE and playbook.enabled:
        playbook.next_run = next_due(playbook.trigger_config, now)
    else:
        playbook.next_run = None
