"""Ranked Okta candidates for an endpoint user, each with a score and reasons.

Strongly consistent lookups come first: a confirmed link, GET by login, and
`filter` on profile fields. `search` (which may lag writes by seconds) and
name similarity come after them and score lower. Candidates are kept apart by
Okta user id only, so two people with similar names are never merged.
"""

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from connectors.models import Connector
from connectors.okta import OktaClient, OktaInvalidRequest, OktaNotFound
from identities.models import IdentityLink, username_key

logger = logging.getLogger(__name__)

# Built-in Windows accounts that never map to a person in Okta.
LOCAL_ACCOUNTS = frozenset(
    {"administrator", "system", "defaultaccount", "guest", "localservice"}
)
MIN_NAME_SIMILARITY = 50


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def quote_value(value: str) -> str:
    """Quote a value for an Okta filter or search expression."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class EndpointAccount:
    """An endpoint user string split into its parts."""

    raw: str
    domain: str = ""  # NetBIOS domain from CORP\name
    name: str = ""  # the account name: sAMAccountName or UPN local part
    upn: str = ""  # name@suffix when given that way
    display_name: str = ""  # "John Doe" when a person's name was given

    @property
    def is_local(self) -> bool:
        lowered = self.name.casefold()
        return lowered in LOCAL_ACCOUNTS or lowered.endswith("$")


def parse_endpoint_user(text: str) -> EndpointAccount:
    """Split `CORP\\jdoe`, `jdoe`, `jdoe@corp.example.com` or `John Doe`."""
    value = normalize(text)
    account = EndpointAccount(raw=value)
    if "\\" in value:
        account.domain, _, account.name = value.partition("\\")
    elif "@" in value and " " not in value:
        account.upn = value
        account.name = value.split("@", 1)[0]
    elif " " in value or "," in value:
        account.display_name = _display_name(value)
    else:
        account.name = value
    return account


def _display_name(value: str) -> str:
    """Turn "Doe, John" into "John Doe"; collapse spaces."""
    if "," in value:
        last, _, first = value.partition(",")
        value = f"{first.strip()} {last.strip()}"
    return re.sub(r"\s+", " ", value).strip()


@dataclass
class Candidate:
    """One Okta user that may be the endpoint user, with why it scored so."""

    connector_id: int
    okta_user_id: str
    login: str
    display_name: str
    email: str
    status: str
    score: int
    reasons: list[str] = field(default_factory=list)
    provider_type: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "connector_id": self.connector_id,
            "okta_user_id": self.okta_user_id,
            "login": self.login,
            "display_name": self.display_name,
            "email": self.email,
            "status": self.status,
            "score": self.score,
            "reasons": list(self.reasons),
        }


@dataclass
class MatchResult:
    """Candidates ranked best first, and notes on lookups that found nothing."""

    candidates: list[Candidate]
    notes: list[str] = field(default_factory=list)


class Matcher:
    """Collects candidates from one connector for one endpoint user."""

    def __init__(self, connector: Connector, client: OktaClient) -> None:
        self.connector = connector
        self.client = client
        self.found: dict[str, Candidate] = {}
        self.notes: list[str] = []

    def add(self, user: dict[str, Any], score: int, reason: str) -> None:
        """Record a user with a score; a user found twice keeps the best score."""
        profile = user.get("profile") or {}
        if user.get("status") == "DEPROVISIONED":
            note = f"skipped {profile.get('login')}: deprovisioned in Okta"
            if note not in self.notes:
                self.notes.append(note)
            return
        candidate = self.found.get(user["id"])
        if candidate is None:
            first_last = f"{profile.get('firstName', '')} {profile.get('lastName', '')}"
            candidate = Candidate(
                connector_id=self.connector.pk,
                okta_user_id=user["id"],
                login=profile.get("login", ""),
                display_name=profile.get("displayName") or first_last.strip(),
                email=profile.get("email") or "",
                status=str(user.get("status", "")),
                score=score,
                provider_type=(
                    ((user.get("credentials") or {}).get("provider") or {}).get("type")
                    or ""
                ),
            )
            self.found[user["id"]] = candidate
        candidate.score = max(candidate.score, score)
        if reason not in candidate.reasons:
            candidate.reasons.append(reason)

    def get(self, login: str) -> dict[str, Any] | None:
        return self.client.find_user(login)

    def query(self, *, filter: str | None = None, search: str | None = None) -> list:
        try:
            return self.client.list_users(filter=filter, search=search, limit=50)
        except OktaInvalidRequest as error:
            self.notes.append(f"Okta rejected the query {filter or search}: {error}")
            return []

    def result(self) -> MatchResult:
        ranked = sorted(
            self.found.values(), key=lambda c: (-c.score, c.login.casefold())
        )
        for candidate in ranked:
            logger.info(
                "identity candidate connector=%s okta_user_id=%s score=%d reasons=%s",
                self.connector.pk,
                candidate.okta_user_id,
                candidate.score,
                "; ".join(candidate.reasons),
            )
        return MatchResult(ranked, self.notes)


def find_candidates(
    endpoint_user: str, connector: Connector, client: OktaClient | None = None
) -> MatchResult:
    """Return ranked Okta candidates for an endpoint user string."""
    account = parse_endpoint_user(endpoint_user)
    matcher = Matcher(connector, client or OktaClient.for_connector(connector))
    if account.name and account.is_local:
        matcher.notes.append(
            f"{account.name} is a local or built-in Windows account; it has no "
            "Okta user"
        )
        return matcher.result()

    _confirmed_link(matcher, account)
    if account.display_name:
        _by_display_name(matcher, account.display_name)
    else:
        _by_account_name(matcher, account)
    if not matcher.found:
        matcher.notes.append(f"no Okta user matches {endpoint_user!r}")
    return matcher.result()


def confirmed_link_for(endpoint_user: str, connector: Connector) -> IdentityLink | None:
    """Return the link confirmed for this user string, or for its bare name.

    A bare name such as `jdoe` uses a link only when exactly one was confirmed
    for that account name, since two domains may each have a `jdoe`.
    """
    links = IdentityLink.objects.select_related("account", "confirmed_by")
    exact = links.filter(
        connector=connector, username_key=username_key(endpoint_user)
    ).first()
    if exact is not None:
        return exact
    account = parse_endpoint_user(endpoint_user)
    if not account.name or account.domain or account.upn:
        return None
    same_name = list(
        links.filter(connector=connector, account_name_key=username_key(account.name))[
            :2
        ]
    )
    return same_name[0] if len(same_name) == 1 else None


def _confirmed_link(matcher: Matcher, account: EndpointAccount) -> None:
    link = confirmed_link_for(account.raw, matcher.connector)
    if link is None:
        return
    try:
        # Re-read by id: the link may be old and the user changed since.
        user = matcher.client.get_user(link.account.provider_user_id)
    except OktaNotFound:
        matcher.notes.append(
            f"the confirmed link to {link.account.login} points at a user that "
            "Okta no longer has"
        )
        return
    approver_name = (
        link.confirmed_by.get_username() if link.confirmed_by else "the automation"
    )
    matcher.add(
        user,
        100,
        f"confirmed by {approver_name} on {link.confirmed_at:%Y-%m-%d} as "
        f"{link.username}",
    )


def _by_account_name(matcher: Matcher, account: EndpointAccount) -> None:
    """Exact rules for `CORP\\jdoe`, `jdoe` and `jdoe@suffix`, strongest first."""
    name = account.name
    if account.upn:
        user = matcher.get(account.upn)
        if user is not None:
            matcher.add(user, 98, f"login equals the UPN {account.upn}")
        for user in matcher.query(
            filter=f"profile.email eq {quote_value(account.upn)}"
        ):
            matcher.add(user, 85, f"email equals the UPN {account.upn}")

    upn_suffix = account.upn.split("@", 1)[1].casefold() if account.upn else ""
    for suffix in matcher.connector.login_suffix_list():
        if suffix == upn_suffix:
            continue
        login = f"{name}@{suffix}"
        user = matcher.get(login)
        if user is not None:
            reason = (
                f"login {login} has the UPN's local part with the configured "
                f"suffix {suffix}"
                if account.upn
                else f"login {login} is the sAMAccountName with the configured "
                f"suffix {suffix}"
            )
            matcher.add(user, 90 if account.upn else 96, reason)

    attribute = matcher.connector.sam_attribute
    if attribute:
        hits = matcher.query(search=f"profile.{attribute} eq {quote_value(name)}")
        for user in hits:
            matcher.add(user, 95, f"profile.{attribute} equals the account name {name}")
        if not hits:
            matcher.notes.append(
                f"search for profile.{attribute} = {name} found nothing; the "
                "search index may lag recent changes by a few seconds"
            )

    # Okta resolves a login's short name only when exactly one login has it.
    shortname = matcher.get(name) if "@" not in name else None
    if shortname is not None:
        matcher.add(shortname, 88, f"login local part equals the account name {name}")


def _by_display_name(matcher: Matcher, display_name: str) -> None:
    """Rules for a person's name: exact first and last name, then similarity."""
    first, _, last = display_name.rpartition(" ")
    if first and last:
        exact = matcher.query(
            filter=f"profile.firstName eq {quote_value(first)} and "
            f"profile.lastName eq {quote_value(last)}"
        )
        for user in exact:
            matcher.add(user, 92, f"first and last name equal {display_name}")

    terms = [quote_value(part) for part in (first, last) if part]
    if not terms:
        terms = [quote_value(display_name)]
    expression = " or ".join(
        f"profile.firstName eq {term} or profile.lastName eq {term}" for term in terms
    )
    hits = matcher.query(search=expression)
    if not hits and not matcher.found:
        matcher.notes.append(
            f"search for the name {display_name} found nothing; the search index "
            "may lag recent changes by a few seconds"
        )
    expected_name = display_name.casefold()
    for user in hits:
        profile = user.get("profile") or {}
        full = f"{profile.get('firstName', '')} {profile.get('lastName', '')}"
        similarity = round(
            fuzz.token_sort_ratio(expected_name, normalize(full).casefold())
        )
        if similarity < MIN_NAME_SIMILARITY:
            continue
        score = 88 if similarity == 100 else round(similarity * 0.8)
        matcher.add(user, score, f"display name similar: {similarity}")
