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
# A name part at least this similar (rapidfuzz ratio, 0-100) counts as the same
# name spelled differently: Jon and John score 86, Jane and John 50.
MIN_PART_SIMILARITY = 75
# The highest score of a person who shares only one name part, such as Jane Doe
# for John Doe, so that an approver does not take them for a likely match.
MAX_DIFFERENT_PART_SCORE = 40


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
        # DEBUG, because match_identity prints the same lines on stdout.
        for candidate in ranked:
            logger.debug(
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
        matcher.notes.append(f"no Okta user matches {endpoint_user}")
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
    hits: list[dict[str, Any]] = []
    if attribute:
        hits = matcher.query(search=f"profile.{attribute} eq {quote_value(name)}")
        for user in hits:
            matcher.add(user, 95, f"profile.{attribute} equals the account name {name}")

    # Okta resolves a login's short name only when exactly one login has it.
    shortname = matcher.get(name) if "@" not in name else None
    if shortname is not None:
        matcher.add(shortname, 88, f"login local part equals the account name {name}")

    # The lag matters only when no rule found the user.
    if attribute and not hits and not matcher.found:
        matcher.notes.append(
            f"search for profile.{attribute} = {name} found nothing; the "
            "search index may lag recent changes by a few seconds"
        )


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
    for user in hits:
        profile = user.get("profile") or {}
        scored = score_name(
            first,
            last,
            profile.get("firstName") or "",
            profile.get("lastName") or "",
        )
        if scored is not None:
            matcher.add(user, *scored)


def score_name(
    first: str, last: str, candidate_first: str, candidate_last: str
) -> tuple[int, str] | None:
    """Score a person's name against the expected one; None drops the candidate.

    Each part is compared on its own, so a shared last name cannot lift a
    different first name (John Doe against Jane Doe) into a likely match. The
    swapped order ("Doe John") counts as well.
    """
    expected = (_name_key(first), _name_key(last))
    found = (_name_key(candidate_first), _name_key(candidate_last))
    if not expected[0]:
        return _score_single_name(last, candidate_first, candidate_last)
    swapped = (found[1], found[0])
    straight_score = _part_similarities(expected, found)
    swapped_score = _part_similarities(expected, swapped)
    is_swapped = _name_rank(swapped_score) > _name_rank(straight_score)
    first_similarity, last_similarity = swapped_score if is_swapped else straight_score
    order = " (first and last name swapped)" if is_swapped else ""

    if first_similarity == last_similarity == 100:
        return 88, f"display name similar: 100{order}"
    first_same = first_similarity >= MIN_PART_SIMILARITY
    last_same = last_similarity >= MIN_PART_SIMILARITY
    whole = round(fuzz.token_sort_ratio(" ".join(expected), " ".join(found)))
    if first_same and last_same:
        return round(whole * 0.8), f"display name similar: {whole}{order}"
    if not first_same and not last_same:
        return None
    score = min(round(whole * 0.5), MAX_DIFFERENT_PART_SCORE)
    names = (first, last, candidate_first, candidate_last)
    return score, _one_part_reason(names, first_same=first_same, swapped=is_swapped)


def _one_part_reason(
    names: tuple[str, str, str, str], *, first_same: bool, swapped: bool
) -> str:
    """Say which name part two people share and which one differs."""
    first, last, candidate_first, candidate_last = names
    if swapped:
        shared, other = (
            (candidate_last, candidate_first)
            if first_same
            else (candidate_first, candidate_last)
        )
        expected_other = last if first_same else first
        return (
            f"same name {shared} in swapped order, but {other} differs from "
            f"{expected_other}"
        )
    if first_same:
        return (
            f"same first name {candidate_first}, but a different last name: "
            f"{candidate_last}, not {last}"
        )
    return (
        f"same last name {candidate_last}, but a different first name: "
        f"{candidate_first}, not {first}"
    )


def _name_key(part: str) -> str:
    return normalize(part).casefold()


def _part_similarities(
    expected: tuple[str, str], found: tuple[str, str]
) -> tuple[int, int]:
    """Return the similarity (0-100) of the first names and of the last names."""
    return (
        round(fuzz.ratio(expected[0], found[0])),
        round(fuzz.ratio(expected[1], found[1])),
    )


def _name_rank(similarities: tuple[int, int]) -> tuple[int, int]:
    """Order comparisons by how many parts are the same name, then by total."""
    same_parts = sum(part >= MIN_PART_SIMILARITY for part in similarities)
    return same_parts, sum(similarities)


def _score_single_name(
    name: str, candidate_first: str, candidate_last: str
) -> tuple[int, str] | None:
    """Score a one-word name, such as "Doe," from a directory, low at best."""
    full = f"{candidate_first} {candidate_last}"
    similarity = round(fuzz.token_set_ratio(_name_key(name), _name_key(full)))
    if similarity < MIN_PART_SIMILARITY:
        return None
    score = min(round(similarity * 0.5), MAX_DIFFERENT_PART_SCORE)
    return score, f"only one name given: {name} is similar to {full} ({similarity})"
