"""Appending to the hash chain of audit events, and verifying it.

Every append takes the chain lock before it reads the previous row, so two
transactions that append at once queue up instead of forking the chain. On
PostgreSQL the lock is a transaction-level advisory lock; SQLite takes its
write lock at BEGIN (Exec opens SQLite transactions as IMMEDIATE), which
already admits one writer at a time.
"""

import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from audit.choices import AUTOMATION
from audit.models import GENESIS_HASH, AuditEvent

# The advisory lock key: any fixed 64-bit number that no other part of Exec
# uses. It is held until the appending transaction ends.
CHAIN_LOCK_KEY = zlib.crc32(b"exec.audit.chain")

MAX_KIND_LENGTH = AuditEvent._meta.get_field("kind").max_length or 64
MAX_REPR_LENGTH = AuditEvent._meta.get_field("object_repr").max_length or 255


@dataclass
class EventData:
    """The content of one event before the chain gives it a place."""

    kind: str
    summary: str
    actor: Any = None
    content_type: ContentType | None = None
    object_id: str = ""
    object_repr: str = ""
    endpoint_id: int | None = None
    playbook_id: int | None = None
    playbook_version: int | None = None
    run_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def subject_fields(subject: Model | None) -> dict[str, Any]:
    """Return the content type, id and text of the model an event is about."""
    if subject is None:
        return {}
    return {
        "content_type": ContentType.objects.get_for_model(subject),
        "object_id": str(subject.pk),
        "object_repr": str(subject)[:MAX_REPR_LENGTH],
    }


def actor_snapshot(actor: Any) -> tuple[AbstractBaseUser | None, str, str]:
    """Return the user, label and e-mail to store for an event's actor.

    `actor` is a user, None for the automation, or a label such as
    "agent:42".
    """
    if actor is None:
        return None, AUTOMATION, ""
    if isinstance(actor, str):
        if not actor.strip():
            raise ValueError("actor: empty label; pass a user, None or 'agent:<id>'.")
        return None, actor[:191], ""
    if isinstance(actor, AbstractBaseUser):
        if not actor.is_authenticated:
            raise ValueError("actor: an anonymous user; pass None or a label.")
        email = getattr(actor, "email", "") or ""
        return actor, actor.get_username(), email
    raise ValueError(
        f"actor: unsupported type {type(actor).__name__}; pass a user, None or "
        "a label such as 'agent:42'."
    )


def _exact_floats(value: Any) -> Any:
    # PostgreSQL's jsonb prints 1e+20 as 100000000000000000000, which reads
    # back as an int and would change the hash. Such floats are stored as
    # strings, and so are NaN and infinities, which JSON lacks.
    if isinstance(value, float) and ("e" in repr(value) or not math.isfinite(value)):
        return repr(value)
    if isinstance(value, dict):
        return {key: _exact_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_exact_floats(item) for item in value]
    return value


def normalized_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """Return `details` as it will read back from the JSON column.

    Dates, UUIDs and decimals become strings here, so the hash computed now
    matches the one computed from the stored row later.
    """
    if details is None:
        return {}
    if not isinstance(details, dict):
        raise ValueError(f"details: expected a JSON object, got {type(details)}.")
    try:
        text = json.dumps(details, cls=DjangoJSONEncoder)
    except TypeError as error:
        raise ValueError(f"details: not JSON-serializable ({error}).") from None
    return _exact_floats(json.loads(text))


def _build(data: EventData) -> AuditEvent:
    kind = data.kind.strip()
    if not kind or len(kind) > MAX_KIND_LENGTH:
        raise ValueError(
            f"kind: {data.kind!r} is invalid; use a dotted name of 1 to "
            f"{MAX_KIND_LENGTH} characters such as 'endpoint.status_changed'."
        )
    if not data.summary.strip():
        raise ValueError(f"summary: empty for event kind {kind!r}.")
    user, label, email = actor_snapshot(data.actor)
    return AuditEvent(
        kind=kind,
        summary=data.summary,
        actor=cast(Any, user),
        actor_label=label,
        actor_email=email,
        content_type=data.content_type,
        object_id=str(data.object_id or ""),
        object_repr=(data.object_repr or "")[:MAX_REPR_LENGTH],
        endpoint_id=data.endpoint_id,
        playbook_id=data.playbook_id,
        playbook_version=data.playbook_version,
        run_id=data.run_id,
        details=normalized_details(data.details),
    )


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def chain_head() -> tuple[int, str, datetime | None]:
    """Return the newest event's sequence, hash and time, or 0 and the genesis
    hash when the chain is empty."""
    head = AuditEvent.objects.order_by("-sequence").values_list(
        "sequence", "hash", "created"
    )[:1]
    for sequence, hash_, created in head:
        return sequence, hash_, created
    return 0, GENESIS_HASH, None


def _link(
    event: AuditEvent, previous: tuple[int, str, datetime | None], now: datetime
) -> tuple[int, str, datetime]:
    sequence, previous_hash, previous_created = previous
    # Times never go backwards along the chain, even when the clock does, so
    # a period of time is always one range of sequence numbers.
    created = max(now, previous_created) if previous_created else now
    event.sequence = sequence + 1
    event.previous_hash = previous_hash
    event.created = created
    event.hash = event.compute_hash()
    return event.sequence, event.hash, created


def append_event(data: EventData) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction if any."""
    event = _build(data)
    with transaction.atomic():
        _lock_chain()
        _link(event, chain_head(), timezone.now())
        event.save(force_insert=True)
    return event


def append_many(
    items: list[EventData], *, now: datetime | None = None, batch_size: int = 2000
) -> int:
    """Append many events in one transaction with few INSERT statements.

    Used for imports and benchmarks; `now` sets the time of every event.
    """
    events = [_build(item) for item in items]
    with transaction.atomic():
        _lock_chain()
        previous = chain_head()
        moment = now or timezone.now()
        for event in events:
            previous = _link(event, previous, moment)
        AuditEvent.objects.all()._insert_chained(events, batch_size=batch_size)
    return len(events)


@dataclass
class ChainFault:
    """The first row at which the chain does not verify."""

    sequence: int
    event_id: int
    problem: str


@dataclass
class ChainReport:
    checked: int
    fault: ChainFault | None
    head_sequence: int
    head_hash: str


def _rows_in_order(batch_size: int) -> Iterator[AuditEvent]:
    # Keyset batches keep memory constant and each query cheap at any size.
    last = 0
    while True:
        batch = list(
            AuditEvent.objects.filter(sequence__gt=last).order_by("sequence")[
                :batch_size
            ]
        )
        yield from batch
        if len(batch) < batch_size:
            return
        last = batch[-1].sequence


def check_row(
    event: AuditEvent, expected_sequence: int, previous_hash: str
) -> str | None:
    """Return what is wrong with one row given the row before it, or None."""
    if event.sequence != expected_sequence:
        return (
            f"sequence jumps from {expected_sequence - 1} to {event.sequence}: "
            f"{event.sequence - expected_sequence} event(s) missing before it"
        )
    if event.previous_hash != previous_hash:
        return (
            f"link broken: previous_hash is {event.previous_hash} but the "
            f"previous event's hash is {previous_hash}"
        )
    computed = event.compute_hash()
    if computed != event.hash:
        return (
            f"content hash differs: stored {event.hash}, computed {computed}; "
            "the row was changed after it was written"
        )
    return None


def verify_chain(batch_size: int = 5000) -> ChainReport:
    """Walk the whole chain in sequence order and stop at the first fault.

    NOTE: removing the newest rows leaves a shorter chain that verifies.
    Checking anchors (`audit.anchors.check_anchors`) catches the removal of
    any row up to the newest anchor, but the rows appended after the newest
    anchor can still be removed without trace. While the hourly anchor task
    runs on schedule, that is at most the last hour's events.
    """
    checked = 0
    previous_hash = GENESIS_HASH
    expected = 1
    for event in _rows_in_order(batch_size):
        problem = check_row(event, expected, previous_hash)
        if problem:
            fault = ChainFault(event.sequence, event.pk, problem)
            return ChainReport(checked, fault, expected - 1, previous_hash)
        checked += 1
        previous_hash = event.hash
        expected = event.sequence + 1
    return ChainReport(checked, None, expected - 1, previous_hash)
