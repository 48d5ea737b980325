"""The content of the audit report as plain data, read from the database.

`build_report_data` reads everything the PDF and the print page show;
`audit.pdf` and the print template only lay it out. Playbooks are read
through the app registry, so the report works, with that section empty,
while the playbooks app has no models.
"""

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Model, QuerySet

from audit import choices
from audit.models import GENESIS_HASH, AuditEvent
from audit.timeline import filter_events

UTC = zoneinfo.ZoneInfo("UTC")


@dataclass
class StepConfig:
    order: int
    name: str
    action: str
    parameters: dict[str, Any]
    requires_approval: bool
    approval_timeout_minutes: int | None
    timeout_seconds: int | None
    max_attempts: int | None
    backoff_seconds: int | None
    on_failure: str


@dataclass
class FieldChange:
    """One field of one configuration change."""

    sequence: int
    when: datetime
    actor: str
    object: str
    action: str
    field: str
    old: str
    new: str


@dataclass
class PlaybookConfig:
    """A playbook's configuration now, and its changes in the period.

    `exists` is False for a playbook that was deleted but changed in the
    period; only its history is known then.
    """

    id: int
    name: str
    exists: bool = True
    description: str = ""
    enabled: bool | None = None
    version: int | None = None
    trigger_type: str = ""
    trigger_config: Any = None
    conditions: Any = None
    condition_mode: str = ""
    target_kind: str = ""
    cooldown_minutes: int | None = None
    max_concurrent_runs: int | None = None
    steps: list[StepConfig] = field(default_factory=list)
    changes: list[FieldChange] = field(default_factory=list)


@dataclass
class EventRow:
    """An event as a report table row: an automated action or an approval."""

    sequence: int
    when: datetime
    actor: str
    kind: str
    summary: str
    outcome: str
    run_id: int | None
    endpoint_id: int | None
    playbook_id: int | None


@dataclass
class ReportData:
    """Everything one audit report shows, in the order it shows it."""

    organization: str
    since: date
    until: date
    generated_by: str
    generated_at: datetime
    head_sequence: int
    head_hash: str
    total_events: int
    counts: list[tuple[str, int]]
    playbooks_available: bool
    playbooks: list[PlaybookConfig]
    other_changes: list[FieldChange]
    actions: list[EventRow]
    approvals: list[EventRow]


def _model(label: str) -> type[Model] | None:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


def field_changes(event: AuditEvent) -> list[FieldChange]:
    """Split one `config.changed` event into a row per changed field."""
    details = event.details or {}
    changes = details.get("changes") or {}
    rows = []
    for name, values in sorted(changes.items()):
        if isinstance(values, dict) and values.get("type") == "m2m":
            operation = values.get("operation", "")
            objects = ", ".join(_text(item) for item in values.get("objects", []))
            old, new = ("", objects) if operation == "add" else (objects, "")
        elif isinstance(values, list | tuple) and len(values) == 2:
            old, new = _text(values[0]), _text(values[1])
        else:
            old, new = "", _text(values)
        rows.append(
            FieldChange(
                sequence=event.sequence,
                when=event.created,
                actor=event.actor_label,
                object=event.object_repr,
                action=_text(details.get("action")),
                field=name,
                old=old,
                new=new,
            )
        )
    return rows


def _outcome(details: dict[str, Any]) -> str:
    parts = [
        _text(details[key])
        for key in ("outcome", "status", "decision", "result", "error", "comment")
        if details.get(key) not in (None, "", {}, [])
    ]
    return "; ".join(parts)


def _event_row(event: AuditEvent) -> EventRow:
    return EventRow(
        sequence=event.sequence,
        when=event.created,
        actor=event.actor_label,
        kind=event.kind,
        summary=event.summary,
        outcome=_outcome(event.details or {}),
        run_id=event.run_id,
        endpoint_id=event.endpoint_id,
        playbook_id=event.playbook_id,
    )


def _steps(playbook: Model) -> list[StepConfig]:
    steps = sorted(
        playbook.steps.all(),  # type: ignore[attr-defined]
        key=lambda step: (step.order, step.pk),
    )
    return [
        StepConfig(
            order=step.order,
            name=_text(getattr(step, "name", "")),
            action=_text(getattr(step, "action", "")),
            parameters=getattr(step, "parameters", None) or {},
            requires_approval=bool(getattr(step, "requires_approval", False)),
            approval_timeout_minutes=getattr(step, "approval_timeout_minutes", None),
            timeout_seconds=getattr(step, "timeout_seconds", None),
            max_attempts=getattr(step, "max_attempts", None),
            backoff_seconds=getattr(step, "backoff_seconds", None),
            on_failure=_text(getattr(step, "on_failure", "")),
        )
        for step in steps
    ]


def playbook_configs() -> list[PlaybookConfig] | None:
    """Return every playbook's configuration now, or None without the app."""
    playbook_model = _model("playbooks.Playbook")
    if playbook_model is None:
        return None
    playbooks = playbook_model._default_manager.prefetch_related("steps").order_by(
        "name", "pk"
    )
    return [
        PlaybookConfig(
            id=playbook.pk,
            name=_text(getattr(playbook, "name", "")),
            description=_text(getattr(playbook, "description", "")),
            enabled=getattr(playbook, "enabled", None),
            version=getattr(playbook, "version", None),
            trigger_type=_text(getattr(playbook, "trigger_type", "")),
            trigger_config=getattr(playbook, "trigger_config", None),
            conditions=getattr(playbook, "conditions", None),
            condition_mode=_text(getattr(playbook, "condition_mode", "")),
            target_kind=_text(getattr(playbook, "target_kind", "")),
            cooldown_minutes=getattr(playbook, "cooldown_minutes", None),
            max_concurrent_runs=getattr(playbook, "max_concurrent_runs", None),
            steps=_steps(playbook),
        )
        for playbook in playbooks
    ]


def _attach_changes(
    configs: list[PlaybookConfig], changes: QuerySet
) -> list[FieldChange]:
    """Put each playbook's changes under it and return the other changes."""
    by_id = {config.id: config for config in configs}
    others = []
    for event in changes.iterator(chunk_size=2000):
        rows = field_changes(event)
        if event.playbook_id is None:
            others.extend(rows)
            continue
        config = by_id.get(event.playbook_id)
        if config is None:
            name = (
                event.object_repr
                if event.details.get("model") == "playbooks.playbook"
                else ""
            )
            config = PlaybookConfig(
                id=event.playbook_id,
                name=name or f"Playbook {event.playbook_id}",
                exists=False,
            )
            by_id[config.id] = config
            configs.append(config)
        config.changes.extend(rows)
    return others


def build_report_data(
    *, since: date, until: date, generated_by: str, now: datetime
) -> ReportData:
    """Read the report's content for the days from `since` to `until`, UTC."""
    events = filter_events({"since": since, "until": until}, UTC)
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash")[:1]
    head_sequence, head_hash = next(iter(head), (0, GENESIS_HASH))
    # Nothing appended after `head` belongs to this report, even if it
    # lands while the report is read.
    events = events.filter(sequence__lte=head_sequence)

    counts = list(
        events.order_by()
        .values_list("kind")
        .annotate(total=Count("id"))
        .order_by("-total", "kind")
    )
    configs = playbook_configs()
    playbooks = configs if configs is not None else []
    config_events = events.filter(kind=choices.CONFIG_CHANGED).order_by("sequence")
    other_changes = _attach_changes(playbooks, config_events)

    actions = events.filter(actor_label=choices.AUTOMATION).order_by("sequence")
    approvals = events.filter(kind__startswith="approval.").order_by("sequence")
    return ReportData(
        organization=settings.EXEC_ORGANIZATION,
        since=since,
        until=until,
        generated_by=generated_by,
        generated_at=now,
        head_sequence=head_sequence,
        head_hash=head_hash,
        total_events=sum(total for _, total in counts),
        counts=counts,
        playbooks_available=configs is not None,
        playbooks=playbooks,
        other_changes=other_changes,
        actions=[_event_row(event) for event in actions.iterator(chunk_size=2000)],
        approvals=[_event_row(event) for event in approvals.iterator(chunk_size=2000)],
    )
