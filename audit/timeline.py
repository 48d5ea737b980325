"""Filtering, paging and exporting the audit timeline.

Pages are keyset pages on `sequence`, newest first. A period becomes a range
of sequence numbers through two scalar subqueries on the `created` index,
which is correct because the chain never lets `created` go backwards. So
every page is one query whatever the table's size.
"""

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet, Subquery
from django.urls import NoReverseMatch, reverse

from audit.choices import AUDIT_KINDS
from audit.models import AuditEvent, canonical_time

PAGE_SIZE = 50
EXPORT_CHUNK_SIZE = 2000


class TimelineFilter(forms.Form):
    """The filters of the timeline page and its exports."""

    since = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="First day, in your time zone.",
    )
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Last day, included.",
    )
    actor = forms.CharField(
        required=False,
        max_length=191,
        help_text='A username, "agent:42", "automation" or "system".',
    )
    kind = forms.CharField(
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"list": "known-kinds"}),
        help_text="Exact kind, such as config.changed.",
    )
    endpoint = forms.IntegerField(required=False, min_value=1, label="Endpoint id")
    playbook = forms.IntegerField(required=False, min_value=1, label="Playbook id")
    run = forms.IntegerField(required=False, min_value=1, label="Run id")

    known_kinds = AUDIT_KINDS

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Must be on or after the first day.")
        return data


@dataclass
class Period:
    """A half-open range of aware datetimes: start included, end excluded."""

    start: datetime | None
    end: datetime | None


def period_of(since: date | None, until: date | None, zone: Any) -> Period:
    """Return the period from the first day to the last, in the viewer's zone."""
    start = datetime.combine(since, time.min, zone) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min, zone) if until else None
    return Period(start, end)


def filter_events(
    filters: dict[str, Any], zone: Any, queryset: QuerySet | None = None
) -> QuerySet:
    """Return the events that match cleaned TimelineFilter data, unordered."""
    events = queryset if queryset is not None else AuditEvent.objects.all()
    period = period_of(filters.get("since"), filters.get("until"), zone)
    if period.start:
        first = (
            AuditEvent.objects.filter(created__gte=period.start)
            .order_by("created", "sequence")
            .values("sequence")[:1]
        )
        events = events.filter(sequence__gte=Subquery(first))
    if period.end:
        last = (
            AuditEvent.objects.filter(created__lt=period.end)
            .order_by("-created", "-sequence")
            .values("sequence")[:1]
        )
        events = events.filter(sequence__lte=Subquery(last))

    exact = {
        "actor_label": filters.get("actor"),
        "kind": filters.get("kind"),
        "endpoint_id": filters.get("endpoint"),
        "playbook_id": filters.get("playbook"),
        "run_id": filters.get("run"),
    }
    return events.filter(**{name: value for name, value in exact.items() if value})


@dataclass
class Page:
    events: list[AuditEvent]
    newer: int | None
    older: int | None


def page_of(events: QuerySet, *, before: int | None, after: int | None) -> Page:
    """Return one page, newest first, before or after a sequence number.

    `newer` and `older` are the cursors of the neighbouring pages, or None
    at either end. One query, plus one when the page needs its newer cursor.
    """
    events = events.select_related("content_type")
    if after is not None:
        rows = list(
            events.filter(sequence__gt=after).order_by("sequence")[: PAGE_SIZE + 1]
        )
        has_more_newer = len(rows) > PAGE_SIZE
        rows = list(reversed(rows[:PAGE_SIZE]))
        older = rows[-1].sequence if rows else None
        return Page(rows, rows[0].sequence if has_more_newer and rows else None, older)

    if before is not None:
        events = events.filter(sequence__lt=before)
    rows = list(events.order_by("-sequence")[: PAGE_SIZE + 1])
    has_more_older = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    older = rows[-1].sequence if has_more_older else None
    newer = rows[0].sequence if before is not None and rows else None
    return Page(rows, newer, older)


def subject_url(event: AuditEvent) -> str | None:
    """Return the admin change page of the event's subject, if it has one."""
    content_type = event.content_type
    if content_type is None or not event.object_id:
        return None
    try:
        return reverse(
            f"admin:{content_type.app_label}_{content_type.model}_change",
            args=[event.object_id],
        )
    except NoReverseMatch:
        return None


EXPORT_FIELDS = (
    "sequence",
    "created",
    "kind",
    "summary",
    "actor",
    "actor_email",
    "subject_type",
    "object_id",
    "object_repr",
    "endpoint_id",
    "playbook_id",
    "playbook_version",
    "run_id",
    "details",
    "previous_hash",
    "hash",
)


def export_row(event: AuditEvent) -> dict[str, Any]:
    """Return one event as exported: the hashed content plus its hashes."""
    return {
        "sequence": event.sequence,
        "created": canonical_time(event.created),
        "kind": event.kind,
        "summary": event.summary,
        "actor": event.actor_label,
        "actor_email": event.actor_email,
        "subject_type": event.subject_type(),
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "endpoint_id": event.endpoint_id,
        "playbook_id": event.playbook_id,
        "playbook_version": event.playbook_version,
        "run_id": event.run_id,
        "details": event.details,
        "previous_hash": event.previous_hash,
        "hash": event.hash,
    }


def export_events(events: QuerySet) -> Iterator[AuditEvent]:
    """Iterate over events newest first without holding them all in memory."""
    return events.order_by("-sequence").iterator(chunk_size=EXPORT_CHUNK_SIZE)


# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """Return a CSV cell that a spreadsheet shows as text, never runs."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    else:
        text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_FIELDS)
    for event in events:
        row = export_row(event)
        yield writer.writerow([safe_cell(row[name]) for name in EXPORT_FIELDS])


def json_chunks(events: Iterable[AuditEvent], meta: dict[str, Any]) -> Iterator[str]:
    """Yield one JSON document: the export's metadata and its events."""
    yield '{"export": ' + json.dumps(meta, sort_keys=True) + ', "events": ['
    separator = "\n"
    for event in events:
        yield separator + json.dumps(export_row(event), ensure_ascii=False)
        separator = ",\n"
    yield "\n]}\n"
