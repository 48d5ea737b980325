"""Ranked Okta candidates for endpoint users, against the fake Okta."""

import json
import logging
import unicodedata

import pytest
from django.contrib.auth import get_user_model

from identities import candidates_for
from identities.actions import confirm_link
from identities.matching import find_candidates, parse_endpoint_user, score_name

pytestmark = pytest.mark.django_db


def logins(result) -> list[str]:
    return [c.login for c in result.candidates]


def test_matching_parses_each_user_form():
    domain = parse_endpoint_user("CORP\\jdoe")
    upn = parse_endpoint_user("jdoe@corp.example.com")
    person = parse_endpoint_user("Doe,  John")

    assert (domain.domain, domain.name) == ("CORP", "jdoe")
    assert (upn.upn, upn.name) == ("jdoe@corp.example.com", "jdoe")
    assert person.display_name == "John Doe"
    assert parse_endpoint_user("jdoe").name == "jdoe"


def test_matching_windows_account_to_different_login(okta_connector):
    result = find_candidates("CORP\\joren", okta_connector)

    top = result.candidates[0]
    assert top.login == "joren.m@example.com"
    assert top.score == 95
    assert "profile.samAccountName equals the account name joren" in top.reasons
    assert len(result.candidates) == 1


def test_matching_same_first_name_ranks_the_right_john(okta_connector):
    result = find_candidates("John Smith", okta_connector)

    assert logins(result) == ["john.smith@example.com", "john.taylor@example.com"]
    smith, taylor = result.candidates
    assert smith.score == 92
    assert "first and last name equal John Smith" in smith.reasons
    assert taylor.score < 50
    assert taylor.reasons == [
        "same first name John, but a different last name: Taylor, not Smith"
    ]


def test_matching_same_last_name_scores_low(okta_connector):
    result = find_candidates("John Doe", okta_connector)

    jane = next(c for c in result.candidates if c.login == "jane.doe@example.com")
    assert all(c.score < 50 for c in result.candidates)
    assert jane.score < 50
    assert jane.reasons == [
        "same last name Doe, but a different first name: Jane, not John"
    ]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("Jon", "Smith", "John", "Smith"), (76, "display name similar: 95")),
        (
            ("Doe", "Jane", "Jane", "Doe"),
            (88, "display name similar: 100 (first and last name swapped)"),
        ),
        (
            ("Doe", "John", "Jane", "Doe"),
            (38, "same name Doe in swapped order, but Jane differs from John"),
        ),
        (("Zoe", "Anders", "Zoë", "Ångström"), None),
        (
            ("", "Doe", "Jane", "Doe"),
            (40, "only one name given: Doe is similar to Jane Doe (100)"),
        ),
    ],
    ids=["typo", "swapped", "swapped-one-part", "different", "one-word"],
)
def test_matching_score_name_cases(names, expected):
    assert score_name(*names) == expected


def test_matching_same_first_name_by_account_is_exact(okta_connector):
    result = find_candidates("CORP\\jsmith", okta_connector)

    assert logins(result) == ["john.smith@example.com"]


def test_matching_upn_differs_from_login(okta_connector):
    result = find_candidates("amara.okafor@corp.example.com", okta_connector)

    top = result.candidates[0]
    assert top.login == "amara.okafor@example.com"
    assert top.score == 90
    assert top.reasons == [
        "login amara.okafor@example.com has the UPN's local part with the "
        "configured suffix example.com",
        "login local part equals the account name amara.okafor",
    ]


def test_matching_upn_equal_to_login_scores_highest(okta_connector):
    result = find_candidates("JANE.DOE@example.com", okta_connector)

    top = result.candidates[0]
    assert top.login == "jane.doe@example.com"
    assert top.score == 98


def test_matching_unicode_decomposed_input(okta_connector):
    decomposed = unicodedata.normalize("NFD", "Zoë Ångström")

    result = find_candidates(decomposed, okta_connector)

    top = result.candidates[0]
    assert top.login == "zoe.angstrom@example.com"
    assert top.score == 92


def test_matching_unicode_case_differs(okta_connector):
    result = find_candidates("ZOË ÅNGSTRÖM", okta_connector)

    top = result.candidates[0]
    assert top.login == "zoe.angstrom@example.com"
    assert top.reasons == ["display name similar: 100"]


def test_matching_unicode_keeps_similar_people_apart(okta_connector):
    result = find_candidates("Zoe Anders", okta_connector)

    ids = [c.okta_user_id for c in result.candidates]
    assert result.candidates[0].login == "zoe.anders@example.com"
    assert "zoe.angstrom@example.com" not in logins(result)[:1]
    assert len(ids) == len(set(ids))


def test_matching_no_candidate_says_index_may_lag(okta_connector):
    result = find_candidates("CORP\\nobody", okta_connector)

    assert result.candidates == []
    assert any("may lag" in note for note in result.notes)
    assert "no Okta user matches CORP\\nobody" in result.notes


def test_matching_unknown_person_name(okta_connector):
    result = find_candidates("Nobody Atall", okta_connector)

    assert result.candidates == []
    assert any("may lag" in note for note in result.notes)


def test_matching_local_account_has_no_candidates(okta_connector, okta_server):
    result = find_candidates("LAPTOP-7\\Administrator", okta_connector)

    assert result.candidates == []
    assert "local or built-in" in result.notes[0]
    assert okta_server.state.requests == []


def test_matching_skips_deprovisioned(okta_connector):
    result = find_candidates("CORP\\oleaver", okta_connector)

    assert result.candidates == []
    assert any("deprovisioned" in note for note in result.notes)


def test_matching_search_lag_falls_back_to_consistent_lookup(
    okta_connector, okta_server
):
    state = okta_server.state
    clock = [state.now()]
    state.clock = lambda: clock[0]
    state.search_lag_seconds = 3
    user = state.add_user("kim.new@example.com", "Kim", "New", samAccountName="kim.new")

    result = find_candidates("CORP\\kim.new", okta_connector)

    assert logins(result) == ["kim.new@example.com"]
    assert result.candidates[0].okta_user_id == user.id
    assert result.candidates[0].score == 96
    assert not any("may lag" in note for note in result.notes)


def test_matching_confirmed_link_first_with_approver(okta_connector, okta_server):
    approver = get_user_model().objects.create_user("ana")
    taylor = next(
        u
        for u in okta_server.state.users.values()
        if u.profile["login"].startswith("john.t")
    )
    confirm_link(
        "CORP\\john",
        okta_connector,
        taylor.id,
        taylor.profile["login"],
        actor=approver,
    )

    result = find_candidates("corp\\JOHN", okta_connector)

    top = result.candidates[0]
    assert top.okta_user_id == taylor.id
    assert top.score == 100
    assert top.reasons[0].startswith("confirmed by ana on ")


def test_matching_bare_name_uses_single_link_only(okta_connector, okta_server):
    users = list(okta_server.state.users.values())
    confirm_link("CORP\\pat", okta_connector, users[0].id, "a@example.com", actor=None)

    single_link = find_candidates("pat", okta_connector)
    confirm_link("LAB\\pat", okta_connector, users[1].id, "b@example.com", actor=None)
    two_links = find_candidates("pat", okta_connector)

    assert single_link.candidates[0].okta_user_id == users[0].id
    assert (
        single_link.candidates[0].reasons[0].startswith("confirmed by the automation")
    )
    assert all(c.score < 100 for c in two_links.candidates)


def test_matching_candidates_for_is_json(okta_connector):
    candidates = candidates_for("CORP\\joren", okta_connector)

    encoded = json.loads(json.dumps(candidates))
    assert encoded[0]["login"] == "joren.m@example.com"
    assert encoded[0]["connector_id"] == okta_connector.pk
    assert set(encoded[0]) == {
        "connector_id",
        "okta_user_id",
        "login",
        "display_name",
        "email",
        "status",
        "score",
        "reasons",
    }


def test_matching_logs_each_candidate_without_secret(
    okta_connector, okta_server, caplog
):
    caplog.set_level(logging.DEBUG)

    find_candidates("John Smith", okta_connector)

    assert caplog.text.count("identity candidate") == 2
    assert okta_server.api_token not in caplog.text
