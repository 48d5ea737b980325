"""The users an agent reports: parsing account names and syncing EndpointUser rows."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from endpoints.models import Endpoint, EndpointUser


@dataclass(frozen=True)
class ReportedUser:
    """One entry of a check-in's `users` list."""

    username: str
    logged_in: bool


def parse_username(username: str) -> tuple[str, str]:
    """Split an account name into (domain, name).

    `CORP\\jdoe` gives ("CORP", "jdoe"), `jdoe@corp.example.com` gives
    ("corp.example.com", "jdoe") and `jdoe` gives ("", "jdoe"). Windows writes
    a local account as `.\\jdoe`; its domain is stored as "".
    """
    value = username.strip()
    if "\\" in value:
        domain, _, name = value.partition("\\")
    elif "@" in value:
        name, _, domain = value.rpartition("@")
    else:
        domain, name = "", value

    domain = domain.strip()
    if domain == ".":
        domain = ""
    return domain, name.strip()


def merge_reported(users: list[ReportedUser]) -> dict[str, bool]:
    """Map each reported username to whether it is logged in.

    A name reported twice counts as logged in when either entry is logged in.
    """
    merged: dict[str, bool] = {}
    for user in users:
        merged[user.username] = merged.get(user.username, False) or user.logged_in
    return merged


def users_digest(users: dict[str, bool]) -> str:
    """Return the SHA-256 of a user list, the same whatever the order."""
    canonical = json.dumps(sorted(users.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def touch_users(endpoint_id: int, usernames: list[str], now: datetime) -> None:
    """Set last_seen of users that a check-in reported unchanged, in one query."""
    if usernames:
        EndpointUser.objects.filter(
            endpoint_id=endpoint_id, username__in=usernames
        ).update(last_seen=now)


def sync_users(endpoint: Endpoint, reported: dict[str, bool], now: datetime) -> None:
    """Create, update and log out the endpoint's users to match a check-in.

    Users the check-in did not list stay on record with logged_in=False.
    """
    existing = {user.username: user for user in endpoint.users.all()}
    created = []
    updated = []
    for username, logged_in in reported.items():
        user = existing.get(username)
        if user is None:
            domain, name = parse_username(username)
            created.append(
                EndpointUser(
                    endpoint=endpoint,
                    username=username,
                    domain=domain,
                    name=name,
                    first_seen=now,
                    last_seen=now,
                    logged_in=logged_in,
                )
            )
        else:
            user.last_seen = now
            user.logged_in = logged_in
            updated.append(user)

    for username, user in existing.items():
        if username not in reported and user.logged_in:
            user.logged_in = False
            updated.append(user)

    EndpointUser.objects.bulk_create(created)
    EndpointUser.objects.bulk_update(updated, ["last_seen", "logged_in"])
