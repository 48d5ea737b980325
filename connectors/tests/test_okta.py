"""The Okta client against the fake Okta on 127.0.0.1."""

import threading
import time

import pytest
import requests

from connectors.choices import Outcome
from connectors.http import (
    OKTA_RATE_LIMITS,
    HttpClient,
    RateLimitBudgets,
    RateLimitStyle,
    RetryPolicy,
    StaticAuth,
)
from connectors.okta import (
    OktaAuthError,
    OktaClient,
    OktaInvalidRequest,
    OktaNotFound,
    OktaPaginationError,
    OktaRateLimited,
)
from connectors.tests.conftest import FakeTime


def user_id(okta_server, login: str) -> str:
    return next(
        u.id for u in okta_server.state.users.values() if u.profile["login"] == login
    )


def calls(okta_server, method: str, fragment: str) -> list[dict]:
    return [
        r
        for r in okta_server.state.requests
        if r["method"] == method and fragment in r["path"]
    ]


@pytest.fixture
def five_users(okta_server):
    """Leave exactly five listed users, so that pages of 2 are 2, 2 and 1."""
    state = okta_server.state
    for user in list(state.users.values())[5:]:
        del state.users[user.id]
    for user in state.users.values():
        user.status = "ACTIVE"
    return okta_server


@pytest.mark.parametrize(
    ("full_last_page_link", "vary_cursor"),
    [(False, False), (True, False), (False, True), (True, True)],
)
def test_okta_pagination_returns_every_user_once(
    five_users, okta_client, full_last_page_link, vary_cursor
):
    five_users.state.next_on_full_last_page = full_last_page_link
    five_users.state.vary_cursor_format = vary_cursor

    users = okta_client.list_users(limit=2)

    ids = [u["id"] for u in users]
    assert len(ids) == 5
    assert len(set(ids)) == 5


def test_okta_pagination_stops_on_empty_page(five_users, okta_client):
    five_users.state.users.pop(next(iter(five_users.state.users)))
    five_users.state.next_on_full_last_page = True

    users = okta_client.list_users(limit=2)

    pages = calls(five_users, "GET", "/api/v1/users")
    assert len(users) == 4
    assert len(pages) == 3  # 2, 2, then the empty page that ends it


def test_okta_pagination_cap_raises(five_users, okta_client):
    okta_client.max_pages = 2

    with pytest.raises(OktaPaginationError, match="after 2"):
        okta_client.list_users(limit=2)


def test_okta_pagination_follows_next_link_verbatim(five_users, okta_client):
    okta_client.list_users(filter='status eq "ACTIVE"', limit=2)

    follow_ups = calls(five_users, "GET", "/api/v1/users")[1:]
    assert follow_ups
    for request in follow_ups:
        assert request["query"]["filter"] == 'status eq "ACTIVE"'
        assert request["query"]["limit"] == "2"
        assert request["query"]["after"]


def test_okta_pagination_rejects_foreign_next_link(okta_server, okta_client):
    with pytest.raises(ValueError, match="not the connector's origin"):
        okta_client.http.absolute_url("http://127.0.0.2:9/api/v1/users?after=x")


def test_okta_get_user_by_login_and_shortname(okta_server, okta_client):
    joren = user_id(okta_server, "joren.m@example.com")

    assert okta_client.get_user("joren.m@example.com")["id"] == joren
    assert okta_client.get_user("joren.m")["id"] == joren
    assert okta_client.get_user(joren)["profile"]["login"] == "joren.m@example.com"


def test_okta_get_unknown_user_carries_error_code(okta_client):
    with pytest.raises(OktaNotFound) as caught:
        okta_client.get_user("nobody@example.com")

    assert caught.value.error_code == "E0000007"
    assert "Not found" in caught.value.error_summary
    assert caught.value.status == 404


def test_okta_filter_is_case_sensitive_search_is_not(okta_client):
    exact = okta_client.list_users(filter='profile.firstName eq "Joren"')
    other_case = okta_client.list_users(filter='profile.firstName eq "JOREN"')
    searched = okta_client.list_users(search='profile.firstName eq "JOREN"')

    assert [u["profile"]["login"] for u in exact] == ["joren.m@example.com"]
    assert other_case == []
    assert [u["profile"]["login"] for u in searched] == ["joren.m@example.com"]


def test_okta_invalid_search_maps_error(okta_client):
    with pytest.raises(OktaInvalidRequest) as caught:
        okta_client.list_users(search='profile.login ne "x"')

    assert caught.value.error_code == "E0000031"
    assert caught.value.causes


def test_okta_suspend_active_user(okta_server, okta_client):
    jane = user_id(okta_server, "jane.doe@example.com")

    result = okta_client.suspend(jane)

    assert result.outcome == Outcome.DONE
    assert result.user["status"] == "SUSPENDED"
    assert okta_server.state.users[jane].status == "SUSPENDED"


def test_okta_suspend_suspended_user_makes_no_call(okta_server, okta_client):
    sam = user_id(okta_server, "sam.suspended@example.com")

    result = okta_client.suspend(sam)

    assert result.outcome == Outcome.ALREADY_IN_STATE
    assert calls(okta_server, "POST", "/lifecycle/") == []


@pytest.mark.parametrize(
    ("login", "status"),
    [
        ("pat.new@example.com", "PROVISIONED"),
        ("lee.locked@example.com", "LOCKED_OUT"),
        ("stu.staged@example.com", "STAGED"),
    ],
)
def test_okta_suspend_refuses_inactive_status(okta_server, okta_client, login, status):
    result = okta_client.suspend(user_id(okta_server, login))

    assert result.outcome == Outcome.REFUSED
    assert result.reason == f"cannot suspend a user in status {status}"
    assert calls(okta_server, "POST", "/lifecycle/") == []


def test_okta_suspend_race_rereads_state(okta_server, okta_client):
    jane = user_id(okta_server, "jane.doe@example.com")
    session = okta_client.http.session
    original = session.request

    def suspend_first(method, url, **kwargs):
        # Someone else suspends the user between our read and our write.
        if method == "POST":
            okta_server.state.set_status(jane, "SUSPENDED")
        return original(method, url, **kwargs)

    session.request = suspend_first

    result = okta_client.suspend(jane)

    assert result.outcome == Outcome.ALREADY_IN_STATE
    assert len(calls(okta_server, "POST", "/lifecycle/suspend")) == 1


def test_okta_suspend_race_to_locked_is_refused(okta_server, okta_client):
    jane = user_id(okta_server, "jane.doe@example.com")
    session = okta_client.http.session
    original = session.request

    def lock_first(method, url, **kwargs):
        if method == "POST":
            okta_server.state.set_status(jane, "LOCKED_OUT")
        return original(method, url, **kwargs)

    session.request = lock_first

    result = okta_client.suspend(jane)

    assert result.outcome == Outcome.REFUSED
    assert "LOCKED_OUT" in result.reason
    assert "Cannot suspend a user that is not active" in result.reason


def test_okta_unsuspend_round_trip(okta_server, okta_client):
    sam = user_id(okta_server, "sam.suspended@example.com")

    first = okta_client.unsuspend(sam)
    second = okta_client.unsuspend(sam)

    assert first.outcome == Outcome.DONE
    assert second.outcome == Outcome.ALREADY_IN_STATE
    assert okta_server.state.users[sam].status == "ACTIVE"


def test_okta_unsuspend_refuses_active_user_of_other_status(okta_server, okta_client):
    result = okta_client.unsuspend(user_id(okta_server, "pat.new@example.com"))

    assert result.outcome == Outcome.REFUSED
    assert result.reason == "cannot unsuspend a user in status PROVISIONED"


def test_okta_suspend_unknown_user_fails(okta_client):
    result = okta_client.suspend("00u00000000000000000")

    assert result.outcome == Outcome.FAILED
    assert "not found" in result.reason


def test_okta_clear_sessions_sends_both_flags(okta_server, okta_client):
    jane = user_id(okta_server, "jane.doe@example.com")

    result = okta_client.clear_sessions(jane, revoke_oauth_tokens=True)

    request = calls(okta_server, "DELETE", "/sessions")[0]
    assert result.outcome == Outcome.DONE
    assert request["query"] == {"oauthTokens": "true", "forgetDevices": "false"}
    assert okta_server.state.users[jane].sessions_cleared == 1
    assert okta_server.state.users[jane].oauth_tokens_revoked == 1


def test_okta_clear_sessions_without_tokens(okta_server, okta_client):
    jane = user_id(okta_server, "jane.doe@example.com")

    okta_client.clear_sessions(jane)

    assert okta_server.state.users[jane].sessions_cleared == 1
    assert okta_server.state.users[jane].oauth_tokens_revoked == 0


def test_okta_group_membership_by_name_and_id(okta_server, okta_client):
    jane = user_id(okta_server, "jane.doe@example.com")
    group = next(
        g for g in okta_server.state.groups.values() if g.name == "SOC Quarantine"
    )

    added = okta_client.add_to_group(jane, "SOC Quarantine")
    again = okta_client.add_to_group(jane, group.id)
    removed = okta_client.remove_from_group(jane, group.id)
    removed_again = okta_client.remove_from_group(jane, "SOC Quarantine")

    assert added.outcome == Outcome.DONE
    assert again.outcome == Outcome.ALREADY_IN_STATE
    assert removed.outcome == Outcome.DONE
    assert removed_again.outcome == Outcome.ALREADY_IN_STATE
    assert jane not in group.members
    assert len(calls(okta_server, "PUT", "/users/")) == 1
    assert len(calls(okta_server, "DELETE", f"/groups/{group.id}/users/")) == 1


@pytest.mark.parametrize(
    ("group", "kind"), [("CORP\\Domain Users", "APP_GROUP"), ("Everyone", "BUILT_IN")]
)
def test_okta_group_of_other_type_refused_up_front(
    okta_server, okta_client, group, kind
):
    jane = user_id(okta_server, "jane.doe@example.com")

    result = okta_client.add_to_group(jane, group)

    assert result.outcome == Outcome.REFUSED
    assert f"of type {kind}" in result.reason
    assert "only OKTA_GROUP" in result.reason
    assert calls(okta_server, "PUT", "/groups/") == []


def test_okta_group_unknown_name_refused(okta_server, okta_client):
    jane = user_id(okta_server, "jane.doe@example.com")

    result = okta_client.add_to_group(jane, "SOC")  # a prefix, not a name

    assert result.outcome == Outcome.REFUSED
    assert result.reason == "no Okta group named 'SOC'"


def test_okta_group_duplicate_names_refused(okta_server, okta_client):
    okta_server.state.add_group("Finance")
    jane = user_id(okta_server, "jane.doe@example.com")

    result = okta_client.add_to_group(jane, "Finance")

    assert result.outcome == Outcome.REFUSED
    assert "2 Okta groups are named 'Finance'" in result.reason


def test_okta_rate_limit_waits_from_server_date(okta_server, okta_client, sleeps):
    # The server's clock runs 1000 s ahead: only its Date gives the right wait.
    okta_server.state.clock_skew = 1000
    okta_server.state.queue_rate_limit((3, 4))

    users = okta_client.list_users()

    retried = okta_server.state.requests[-1]
    assert users
    assert len(sleeps.waits) == 1
    assert 3 <= sleeps.waits[0] <= 5
    assert retried["retry_count"] == "1"


def test_okta_rate_limit_concurrency_variant(okta_server, okta_client, sleeps):
    okta_server.state.queue_rate_limit((2,), concurrency=True)

    okta_client.list_users()

    assert len(sleeps.waits) == 1
    assert 2 <= sleeps.waits[0] <= 4


def test_okta_rate_limit_huge_reset_is_not_waited(okta_server, okta_client, sleeps):
    okta_server.state.queue_rate_limit((100_000,))

    with pytest.raises(OktaRateLimited) as caught:
        okta_client.list_users()

    assert sleeps.waits == []
    assert caught.value.error_code == "E0000047"
    assert caught.value.transient


def test_okta_rate_limit_stops_after_max_attempts(okta_server, sleeps):
    for _ in range(5):
        okta_server.state.queue_rate_limit((1,))
    http = HttpClient(
        okta_server.base_url,
        label="okta test",
        style=RateLimitStyle.OKTA,
        auth=StaticAuth(f"SSWS {okta_server.api_token}"),
        policy=RetryPolicy(max_attempts=3),
        sleep=sleeps,
    )

    with pytest.raises(OktaRateLimited):
        OktaClient(http).list_users()

    assert len(sleeps.waits) == 2
    assert len(okta_server.state.queued_rate_limits) == 2


def paced_client(okta_server, clock: FakeTime, threshold: float) -> OktaClient:
    """A client whose sleeps move the clock that the fake Okta also reads."""
    okta_server.state.clock = clock
    http = HttpClient(
        okta_server.base_url,
        label="okta test",
        style=RateLimitStyle.OKTA,
        auth=StaticAuth(f"SSWS {okta_server.api_token}"),
        policy=RetryPolicy(pacing_threshold=threshold),
        sleep=clock.sleep,
        clock=clock,
    )
    return OktaClient(http)


@pytest.fixture
def small_budget(okta_server) -> str:
    """Allow 10 reads of one user per 10-second window; return that user's id."""
    okta_server.state.rate_limits["GET /api/v1/users/*"] = 10
    okta_server.state.rate_limit_window = 10
    return user_id(okta_server, "jane.doe@example.com")


def read_user_statuses(okta_server, client: OktaClient, user: str) -> list[int]:
    """Read `user` 25 times; return the status of every request the server saw."""
    for _ in range(25):
        client.get_user(user)
    return [r["status"] for r in calls(okta_server, "GET", user)]


def test_okta_paces_instead_of_429(okta_server, small_budget):
    clock = FakeTime(time.time())
    client = paced_client(okta_server, clock, threshold=0.2)

    statuses = read_user_statuses(okta_server, client, small_budget)

    # Eight reads leave 2 of 10, so reads 9, 17 and 25 wait for a new window.
    # Each wait is the 10 s from Date to the reset, plus 1 s and the jitter.
    assert statuses == [200] * 25
    assert len(clock.waits) == 3
    assert all(11 <= wait <= 12 for wait in clock.waits), clock.waits


def test_okta_without_pacing_gets_429(okta_server, small_budget):
    clock = FakeTime(time.time())
    client = paced_client(okta_server, clock, threshold=0)

    statuses = read_user_statuses(okta_server, client, small_budget)

    assert statuses.count(429) == 2
    assert statuses.count(200) == 25


def test_okta_threads_share_pacing(okta_server, small_budget):
    clock = FakeTime(time.time())
    client = paced_client(okta_server, clock, threshold=0.5)
    # Pacing starts with 5 of 10 left, and at most 3 other threads can have a
    # read in flight by then, so no window is overspent.
    failures: list[Exception] = []

    def read_user() -> None:
        try:
            for _ in range(10):
                client.get_user(small_budget)
        except Exception as error:
            failures.append(error)

    workers = [threading.Thread(target=read_user) for _ in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=30)

    statuses = [r["status"] for r in calls(okta_server, "GET", small_budget)]
    assert failures == []
    assert statuses == [200] * 40
    assert clock.waits


def test_okta_connector_clients_share_budgets(
    okta_connector, okta_server, small_budget
):
    clock = FakeTime(time.time())
    okta_server.state.clock = clock
    budgets = RateLimitBudgets()
    first, second = (
        OktaClient.for_connector(
            okta_connector, sleep=clock.sleep, clock=clock, rate_limits=budgets
        )
        for _ in range(2)
    )

    for _ in range(9):  # leaves 1 of 10, the default 10% threshold
        first.get_user(small_budget)
    second.get_user(small_budget)

    default = OktaClient.for_connector(okta_connector)
    assert len(clock.waits) == 1
    assert 11 <= clock.waits[0] <= 12
    assert default.http.rate_limits is OKTA_RATE_LIMITS


def test_okta_post_not_retried_on_503(okta_server, okta_client, sleeps):
    jane = user_id(okta_server, "jane.doe@example.com")
    okta_client.get_user(jane)
    response = okta_client.http.request("GET", f"/api/v1/users/{jane}")
    okta_server.state.queued_failures.append(503)

    retried_post = okta_client.http.request(
        "POST", f"/api/v1/users/{jane}/lifecycle/suspend"
    )

    assert response.status_code == 200
    assert retried_post.status_code == 503
    assert sleeps.waits == []


def test_okta_get_retried_on_503(okta_server, okta_client, sleeps):
    okta_server.state.queued_failures.extend([503, 504])

    users = okta_client.list_users()

    assert users
    assert len(sleeps.waits) == 2


def test_okta_bad_token_raises_auth_error(okta_server):
    client = OktaClient(
        HttpClient(
            okta_server.base_url,
            label="okta test",
            style=RateLimitStyle.OKTA,
            auth=StaticAuth("SSWS wrong"),
        )
    )

    with pytest.raises(OktaAuthError) as caught:
        client.list_users()

    assert caught.value.error_code == "E0000011"
    assert len(okta_server.state.requests) == 1  # a static token is not re-minted


def test_okta_connection_refused_is_plain(okta_server):
    okta_server.stop()
    client = OktaClient(
        HttpClient(okta_server.base_url, label="okta test", timeout=(1, 1))
    )

    with pytest.raises(Exception, match="Could not connect to") as caught:
        client.list_users()

    assert caught.value.transient
    assert not isinstance(caught.value, requests.RequestException)
