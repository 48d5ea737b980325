"""Pacing Okta requests from the X-Rate-Limit-* headers of earlier responses."""

import logging
import threading
from email.utils import formatdate

import pytest
import requests

from connectors.http import (
    HttpClient,
    RateLimitBudget,
    RateLimitBudgets,
    RateLimitStyle,
    RetryPolicy,
    StaticAuth,
    okta_rate_limit_bucket,
)
from connectors.tests.conftest import FakeTime

NOW = 1_800_000_000.0
# The local clock runs far from the server's, so only `Date` gives right waits.
LOCAL_NOW = NOW + 5000
TOKEN = "00pacing-test-token"
JANE = "/api/v1/users/00u1a2b3c4d5e6f7g8h9"


def okta_headers(remaining: int, *, limit: int = 600, reset_in: int = 20) -> dict:
    return {
        "Date": formatdate(NOW, usegmt=True),
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(int(NOW) + reset_in),
    }


def okta_http(
    receiver, clock: FakeTime, sleep=None, rate_limits=None, **policy
) -> HttpClient:
    return HttpClient(
        receiver.base_url,
        label="okta test",
        style=RateLimitStyle.OKTA,
        auth=StaticAuth(f"SSWS {TOKEN}"),
        policy=RetryPolicy(**{"max_jitter": 0, **policy}),
        sleep=sleep or clock.sleep,
        clock=clock,
        rate_limits=rate_limits,
    )


@pytest.mark.parametrize(
    ("remaining", "paced"), [(500, False), (61, False), (60, True), (0, True)]
)
def test_pacing_starts_at_threshold(receiver, remaining, paced):
    receiver.replies = [(200, "[]", okta_headers(remaining))]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock)

    http.request("GET", "/api/v1/users")
    http.request("GET", "/api/v1/users")

    assert len(receiver.received) == 2
    assert clock.waits == ([21.0] if paced else [])


def test_pacing_plenty_of_budget_never_waits(receiver, caplog):
    caplog.set_level(logging.INFO)
    receiver.replies = [(200, "[]", okta_headers(600 - n)) for n in range(1, 20)]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock)

    for _ in range(20):
        http.request("GET", "/api/v1/users")

    assert len(receiver.received) == 20
    assert clock.waits == []
    assert "pacing" not in caplog.text


def test_pacing_waits_until_reset_from_date(receiver, caplog):
    caplog.set_level(logging.INFO)
    receiver.replies = [(200, "[]", okta_headers(5, reset_in=20))]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock)
    http.request("GET", "/api/v1/users", params={"limit": 2})
    clock.now += 5

    response = http.request("GET", "/api/v1/users", params={"limit": 2})

    # Reset is 20 s after the server's Date, plus 1 s as for a 429, less 5 s.
    assert response.status_code == 200
    assert clock.waits == [16.0]
    pacing = [r.getMessage() for r in caplog.records if "pacing" in r.getMessage()]
    assert pacing == [
        "pacing vendor=okta test bucket=GET /api/v1/users wait=16.0s "
        "remaining=5 limit=600"
    ]
    assert TOKEN not in caplog.text


def test_pacing_adds_jitter(receiver):
    receiver.replies = [(200, "[]", okta_headers(5, reset_in=20))]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock, max_jitter=1.0)
    http.request("GET", "/api/v1/users")

    http.request("GET", "/api/v1/users")

    assert len(clock.waits) == 1
    assert 21 <= clock.waits[0] <= 22


def test_pacing_takes_min_of_duplicate_headers(receiver):
    headers = okta_headers(5, reset_in=30)
    headers["X-Rate-Limit-Reset"] += f", {int(NOW) + 10}"
    receiver.replies = [(200, "[]", headers)]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock)
    http.request("GET", "/api/v1/users")

    http.request("GET", "/api/v1/users")

    assert clock.waits == [11.0]


def test_pacing_stops_once_budget_recovers(receiver):
    receiver.replies = [
        (200, "[]", okta_headers(5)),
        (200, "[]", okta_headers(599)),
    ]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock)

    for _ in range(4):
        http.request("GET", "/api/v1/users")

    assert clock.waits == [21.0]
    assert len(receiver.received) == 4


def test_pacing_ignores_incomplete_headers(receiver):
    undated = okta_headers(0)
    del undated["Date"]
    concurrency = okta_headers(0, limit=0)
    receiver.replies = [(200, "[]", undated), (200, "[]", concurrency)]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock)

    for _ in range(3):
        http.request("GET", "/api/v1/users")

    assert clock.waits == []


def test_pacing_only_same_bucket(receiver):
    receiver.replies = [(200, "{}", okta_headers(1))]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock)
    http.request("GET", JANE)

    http.request("GET", "/api/v1/groups")
    http.request("GET", JANE + "/groups")
    http.request("POST", JANE + "/lifecycle/suspend")
    other_bucket_waits = list(clock.waits)
    http.request("GET", "/api/v1/users/jane.doe%40example.com")

    assert other_bucket_waits == []
    assert clock.waits == [21.0]
    assert len(receiver.received) == 5


@pytest.mark.parametrize(
    ("method", "url", "bucket"),
    [
        ("GET", "/api/v1/users?limit=200", "GET /api/v1/users"),
        ("GET", "/api/v1/users/", "GET /api/v1/users"),
        ("GET", JANE, "GET /api/v1/users/*"),
        ("GET", "/api/v1/users/jane.doe%40example.com", "GET /api/v1/users/*"),
        ("GET", JANE + "/groups", "GET /api/v1/users/*/groups"),
        ("DELETE", JANE + "/sessions", "DELETE /api/v1/users/*/sessions"),
        ("POST", JANE + "/lifecycle/suspend", "POST /api/v1/users/*/lifecycle/*"),
        (
            "PUT",
            "/api/v1/groups/00g1a2b3c4d5e6f7g8h9/users/00u1a2b3c4d5e6f7g8h9",
            "PUT /api/v1/groups/*/users/*",
        ),
        (
            "GET",
            "https://acme.okta.com/api/v1/groups/00g1a2b3c4d5e6f7g8h9/users?after=x",
            "GET /api/v1/groups/*/users",
        ),
        ("POST", "/oauth2/v1/token", "POST /oauth2/v1/token"),
    ],
)
def test_pacing_bucket_template(method, url, bucket):
    assert okta_rate_limit_bucket(method, url) == bucket


def test_pacing_wait_over_max_sends_at_once(receiver, caplog):
    receiver.replies = [(200, "[]", okta_headers(5, reset_in=100))]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock, max_total_wait=60)
    http.request("GET", "/api/v1/users")

    response = http.request("GET", "/api/v1/users")

    assert response.status_code == 200
    assert len(receiver.received) == 2
    assert clock.waits == []
    assert (
        "not pacing vendor=okta test bucket=GET /api/v1/users wait=101.0s "
        "exceeds max total wait 60s; sending now"
    ) in caplog.text


def test_pacing_shares_max_total_wait(receiver):
    limited = okta_headers(0, reset_in=40)
    receiver.replies = [
        (200, "[]", okta_headers(5, reset_in=30)),
        (429, "", limited),
    ]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock, max_total_wait=60)
    http.request("GET", "/api/v1/users")

    response = http.request("GET", "/api/v1/users")

    # 31 s of pacing leave 29 s, too few for the 41 s wait the 429 names.
    assert response.status_code == 429
    assert clock.waits == [31.0]
    assert len(receiver.received) == 2


def test_pacing_off_when_threshold_zero(receiver):
    receiver.replies = [(200, "[]", okta_headers(0))]
    clock = FakeTime(LOCAL_NOW)
    http = okta_http(receiver, clock, pacing_threshold=0)

    http.request("GET", "/api/v1/users")
    http.request("GET", "/api/v1/users")

    assert clock.waits == []


@pytest.mark.parametrize("threshold", [-0.1, 1, 1.5])
def test_pacing_threshold_out_of_range_rejected(threshold):
    with pytest.raises(ValueError, match="pacing_threshold must be at least 0"):
        RetryPolicy(pacing_threshold=threshold)


def test_pacing_shared_by_clients_of_one_org(receiver):
    receiver.replies = [(200, "[]", okta_headers(3))]
    clock = FakeTime(LOCAL_NOW)
    budgets = RateLimitBudgets()
    first = okta_http(receiver, clock, rate_limits=budgets)
    second = okta_http(receiver, clock, rate_limits=budgets)
    unshared = okta_http(receiver, clock)
    first.request("GET", "/api/v1/users")

    unshared.request("GET", "/api/v1/users")
    unshared_waits = list(clock.waits)
    second.request("GET", "/api/v1/users")

    assert unshared_waits == []
    assert clock.waits == [21.0]


def test_pacing_budgets_kept_per_base_url():
    low = requests.Response()
    low.status_code = 200
    low.headers.update(okta_headers(3))
    budgets = RateLimitBudgets()

    budgets.record(("https://a.okta.com", "GET /api/v1/users"), low, now=LOCAL_NOW)

    recorded = budgets.get(("https://a.okta.com", "GET /api/v1/users"))
    assert recorded == RateLimitBudget(limit=600, remaining=3, resets_at=LOCAL_NOW + 21)
    assert budgets.get(("https://b.okta.com", "GET /api/v1/users")) is None
    assert budgets.get(("https://a.okta.com", "GET /api/v1/groups")) is None


def test_pacing_threads_wait_side_by_side(receiver):
    receiver.replies = [(200, "[]", okta_headers(3))]
    clock = FakeTime(LOCAL_NOW)
    threads = 4
    # Every thread must be inside its wait at once, or the barrier breaks.
    together = threading.Barrier(threads, timeout=5)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        together.wait()

    http = okta_http(receiver, clock, sleep=sleep)
    http.request("GET", "/api/v1/users")
    statuses: list[int] = []
    errors: list[Exception] = []

    def worker() -> None:
        try:
            statuses.append(http.request("GET", "/api/v1/users").status_code)
        except Exception as error:
            errors.append(error)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=10)

    assert errors == []
    assert statuses == [200] * threads
    assert waits == [21.0] * threads
    assert len(receiver.received) == 1 + threads


def test_pacing_leaves_other_bucket_free(receiver):
    receiver.replies = [(200, "{}", okta_headers(3))]
    clock = FakeTime(LOCAL_NOW)
    pacing = threading.Event()
    release = threading.Event()
    woke = threading.Event()

    def sleep(seconds: float) -> None:
        pacing.set()
        release.wait(timeout=5)
        woke.set()

    http = okta_http(receiver, clock, sleep=sleep)
    http.request("GET", JANE)
    paced = threading.Thread(target=http.request, args=("GET", JANE))
    paced.start()
    assert pacing.wait(timeout=5)

    groups = http.request("GET", "/api/v1/groups")
    groups_sent_while_pacing = not woke.is_set()
    release.set()
    paced.join(timeout=10)

    assert groups.status_code == 200
    assert groups_sent_while_pacing
    assert len(receiver.received) == 3
