"""Ingest detections: validate a whole body, store each once, start playbooks.

The API and the `send_detection` command both call `ingest`. Every document
is normalized before anything is stored, so one bad document stores nothing
from its body. The unique (source, external id) constraint, not a lookup,
decides whether a detection is new, so concurrent duplicates start one set of
runs.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from endpoints.choices import Source
from endpoints.models import Endpoint, EndpointUser
from exec_site.events import record_event
from playbooks.choices import MatchStatus
from playbooks.models import Detection, Playbook, PlaybookRun
from playbooks.normalizers import NormalizationError, normalize, parse_body
from playbooks.triggers import detection_playbooks, start_for_detection


class IngestError(ValueError):
    """A body that cannot be ingested; nothing from it was stored.

    `message` names the field already, as the normalizers' errors do.
    """

    def __init__(self, field: str, message: str, index: int | None = None) -> None:
        where = f"document {index + 1}: " if index is not None else ""
        super().__init__(f"{where}{message}")
        self.field = field
        self.index = index


@dataclass
class Ingested:
    """One stored detection and what its ingestion did."""

    detection: Detection
    new: bool
    runs: list[PlaybookRun] = field(default_factory=list)


@dataclass
class Match:
    """The outcome of resolving a detection to one endpoint or one user."""

    status: str
    reason: str = ""
    obj: Any = None


def ingest(source: str, body: bytes) -> list[Ingested]:
    """Normalize every document of `body`, then store them in one transaction."""
    try:
        documents = parse_body(body)
    except NormalizationError as error:
        raise IngestError(error.field, str(error)) from None
    except ValueError as error:
        raise IngestError("body", f"body: invalid JSON ({error})") from None

    normalized = []
    for index, document in enumerate(documents):
        try:
            normalized.append(normalize(source, document))
        except NormalizationError as error:
            raise IngestError(error.field, str(error), index) from None

    now = timezone.now()
    with transaction.atomic():
        playbooks = detection_playbooks()
        resolver = Resolver()
        return [_store(item, now, playbooks, resolver) for item in normalized]


class Resolver:
    """Resolve endpoints and users, caching the results for one body.

    Alerts in one body often name the same host, so each distinct host and
    user is looked up once.
    """

    def __init__(self) -> None:
        self.endpoints: dict[tuple[str, str, str], Match] = {}
        self.users: dict[tuple[int | None, str], Match] = {}

    def endpoint(self, source: str, vendor_id: str, hostname: str) -> Match:
        key = (source, vendor_id, hostname.casefold())
        if key not in self.endpoints:
            self.endpoints[key] = resolve_endpoint(source, vendor_id, hostname)
        return self.endpoints[key]

    def user(self, endpoint: Endpoint | None, username: str) -> Match:
        key = (endpoint.pk if endpoint else None, username)
        if key not in self.users:
            self.users[key] = resolve_user(endpoint, username)
        return self.users[key]


def _store(
    item: Any, now: dt.datetime, playbooks: list[Playbook], resolver: Resolver
) -> Ingested:
    fields = {
        name: getattr(item, name)
        for name in (
            "title",
            "severity",
            "original_severity",
            "occurred",
            "hostname",
            "vendor_endpoint_id",
            "username",
            "command_line",
            "file_path",
            "file_sha256",
            "mitre_tactic",
            "mitre_technique",
            "raw",
        )
    }
    endpoint_match = resolver.endpoint(
        item.source, item.vendor_endpoint_id, item.hostname
    )
    user_match = resolver.user(endpoint_match.obj, item.username)
    try:
        # A savepoint, so a concurrent duplicate's IntegrityError leaves the
        # outer transaction usable.
        with transaction.atomic():
            detection = Detection.objects.create(
                source=item.source,
                external_id=item.external_id,
                received=now,
                endpoint=endpoint_match.obj,
                endpoint_match=endpoint_match.status,
                endpoint_match_reason=endpoint_match.reason,
                endpoint_user=user_match.obj,
                user_match=user_match.status,
                user_match_reason=user_match.reason,
                **fields,
            )
    except IntegrityError:
        existing = Detection.objects.get(
            source=item.source, external_id=item.external_id
        )
        return Ingested(existing, new=False)

    record_event(
        "detection.received",
        f"Detection {detection.title!r} from {detection.source} ({detection.severity})",
        subject=detection,
        endpoint_id=detection.endpoint_id,
        details={"external_id": detection.external_id},
    )
    runs = start_for_detection(detection, now, playbooks)
    return Ingested(detection, new=True, runs=runs)


def resolve_endpoint(source: str, vendor_id: str, hostname: str) -> Match:
    """Find the endpoint by the vendor's id, else by host name.

    Host names compare case-insensitively with an endpoint's hostname or FQDN.
    A short name also matches the first label of an FQDN, but only when
    exactly one endpoint has it.
    """
    if vendor_id and source in Source.values:
        endpoint = (
            Endpoint.objects.prefetch_related("tags")
            .filter(source=source, source_id=vendor_id)
            .first()
        )
        if endpoint is not None:
            return Match(MatchStatus.MATCHED, f"{source} id {vendor_id}", endpoint)
    if not hostname:
        if vendor_id:
            return Match(
                MatchStatus.NOT_FOUND, f"no endpoint with {source} id {vendor_id}"
            )
        return Match(MatchStatus.NOT_REPORTED, "the detection names no host")

    exact = list(
        Endpoint.objects.prefetch_related("tags").filter(
            Q(hostname__iexact=hostname) | Q(fqdn__iexact=hostname)
        )[:3]
    )
    if len(exact) == 1:
        return Match(MatchStatus.MATCHED, f"host name {hostname}", exact[0])
    if len(exact) > 1:
        return Match(MatchStatus.AMBIGUOUS, _ambiguous(hostname, exact))

    if "." not in hostname:
        prefix = f"{hostname}."
        short = list(
            Endpoint.objects.prefetch_related("tags").filter(
                Q(fqdn__istartswith=prefix) | Q(hostname__istartswith=prefix)
            )[:3]
        )
        if len(short) == 1:
            return Match(MatchStatus.MATCHED, f"short name {hostname}", short[0])
        if len(short) > 1:
            return Match(MatchStatus.AMBIGUOUS, _ambiguous(hostname, short))
    return Match(MatchStatus.NOT_FOUND, f"no endpoint named {hostname}")


def _ambiguous(name: str, endpoints: list[Endpoint]) -> str:
    ids = ", ".join(str(endpoint.pk) for endpoint in endpoints[:2])
    more = " and more" if len(endpoints) > 2 else ""
    return f"{name} matches endpoints {ids}{more}"


def account_name(username: str) -> str:
    """Return the name in `CORP\\jdoe` or `jdoe@corp.example.com`: jdoe."""
    name = username.rsplit("\\", 1)[-1]
    return name.split("@", 1)[0]


def resolve_user(endpoint: Endpoint | None, username: str) -> Match:
    """Find the endpoint's user: the reported username exactly, else by name."""
    if not username:
        return Match(MatchStatus.NOT_REPORTED, "the detection names no user")
    if endpoint is None:
        return Match(MatchStatus.NOT_FOUND, "no endpoint to look the user up on")

    name = account_name(username)
    # One query fetches both the exact username and the same-name candidates.
    candidates = list(
        EndpointUser.objects.filter(endpoint=endpoint).filter(
            Q(username=username) | Q(name__iexact=name)
        )[:10]
    )
    exact = next((user for user in candidates if user.username == username), None)
    if exact is not None:
        return Match(MatchStatus.MATCHED, f"username {username}", exact)
    by_name = [user for user in candidates if user.name.casefold() == name.casefold()]
    if len(by_name) == 1:
        return Match(MatchStatus.MATCHED, f"account name {name}", by_name[0])
    if len(by_name) > 1:
        usernames = ", ".join(user.username for user in by_name)
        return Match(MatchStatus.AMBIGUOUS, f"{name} matches users {usernames}")
    return Match(MatchStatus.NOT_FOUND, f"no user {username} on endpoint {endpoint.pk}")
