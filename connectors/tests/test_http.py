"""The shared HTTP layer: rate-limit headers, retries, tokens, redaction."""

import logging
import socket
from email.utils import formatdate

import pytest
import requests

from connectors.http import (
    HttpClient,
    HttpConnectionError,
    RateLimitStyle,
    RetryPolicy,
    TokenCache,
    rate_limit_wait,
    short_body,
)


def response(status: int, headers: dict[str, str]) -> requests.Response:
    built = requests.Response()
    built.status_code = status
    built.headers.update(headers)
    return built


NOW = 1_800_000_000.0


def test_rate_limit_okta_takes_min_of_joined_values():
    joined = response(
        429,
        {
            "Date": formatdate(NOW, usegmt=True),
            "X-Rate-Limit-Reset": f"{int(NOW) + 9}, {int(NOW) + 3}",
        },
    )

    assert rate_limit_wait(joined, RateLimitStyle.OKTA, now=0) == 4


def test_rate_limit_okta_uses_server_date():
    skewed = response(
        429,
        {
            "Date": formatdate(NOW, usegmt=True),
            "X-Rate-Limit-Reset": str(int(NOW) + 3),
        },
    )

    assert rate_limit_wait(skewed, RateLimitStyle.OKTA, now=NOW - 5000) == 4


def test_rate_limit_okta_without_date_names_no_wait():
    undated = response(429, {"X-Rate-Limit-Reset": str(int(NOW) + 3)})

    assert rate_limit_wait(undated, RateLimitStyle.OKTA, now=NOW) is None


def test_rate_limit_crowdstrike_seconds_and_milliseconds():
    seconds = response(429, {"X-RateLimit-RetryAfter": str(int(NOW) + 7)})
    millis = response(429, {"X-RateLimit-RetryAfter": str(int(NOW + 7) * 1000)})

    assert rate_limit_wait(seconds, RateLimitStyle.CROWDSTRIKE, now=NOW) == 7
    assert rate_limit_wait(millis, RateLimitStyle.CROWDSTRIKE, now=NOW) == 7


def test_rate_limit_retry_after_seconds_and_date():
    seconds = response(429, {"Retry-After": "2"})
    dated = response(429, {"Retry-After": formatdate(NOW + 30, usegmt=True)})
    garbage = response(429, {"Retry-After": "soon"})

    assert rate_limit_wait(seconds, RateLimitStyle.RETRY_AFTER, now=NOW) == 2
    assert rate_limit_wait(dated, RateLimitStyle.RETRY_AFTER, now=NOW) == 30
    assert rate_limit_wait(garbage, RateLimitStyle.RETRY_AFTER, now=NOW) is None


def test_http_retry_after_honoured_with_jitter(receiver):
    receiver.replies = [(429, "rate_limited", {"Retry-After": "2"})]
    waits = []
    client = HttpClient(receiver.base_url, label="test", sleep=waits.append)

    result = client.request("POST", "/hook", json={"text": "hi"})

    assert result.status_code == 200
    assert len(receiver.received) == 2
    assert len(waits) == 1
    assert 2 <= waits[0] <= 3


def test_http_max_total_wait_stops_retrying(receiver):
    receiver.replies = [(429, "", {"Retry-After": "50"})] * 3
    waits = []
    client = HttpClient(
        receiver.base_url,
        label="test",
        sleep=waits.append,
        policy=RetryPolicy(max_attempts=5, max_total_wait=60),
    )

    result = client.request("POST", "/hook")

    assert result.status_code == 429
    assert len(waits) == 1
    assert len(receiver.received) == 2


def test_http_not_retried_on_other_errors(receiver):
    receiver.replies = [(500, "boom", {}), (200, "ok", {})]
    waits = []
    client = HttpClient(receiver.base_url, label="test", sleep=waits.append)

    result = client.request("POST", "/hook")

    assert result.status_code == 500
    assert waits == []


def test_http_read_timeout_is_plain():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection but never responds
    port = listener.getsockname()[1]
    client = HttpClient(f"http://127.0.0.1:{port}", label="test", timeout=(1, 0.3))
    try:
        with pytest.raises(HttpConnectionError, match="No response from") as caught:
            client.request("GET", "/")
    finally:
        listener.close()

    assert "within 0.3 s" in str(caught.value)


def test_http_redacted_url_not_logged(receiver, caplog):
    caplog.set_level(logging.DEBUG)
    receiver.replies = [(429, "", {"Retry-After": "1"})]
    secret_url = f"{receiver.base_url}/services/T0/B0/topsecretpart"
    client = HttpClient(
        secret_url, label="slack test", redact_urls=True, sleep=lambda s: None
    )

    client.request("POST", secret_url)
    dead = HttpClient(
        "http://127.0.0.1:9/services/T0/B0/topsecretpart",
        label="slack test",
        redact_urls=True,
        timeout=(0.5, 0.5),
    )
    with pytest.raises(HttpConnectionError) as caught:
        dead.request("POST", "http://127.0.0.1:9/services/T0/B0/topsecretpart")

    assert "retrying" in caplog.text
    assert "topsecretpart" not in caplog.text
    assert "topsecretpart" not in str(caught.value)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_cache_renews_within_margin():
    clock = Clock()
    minted = []

    def mint():
        minted.append(clock.now)
        return f"token-{len(minted)}", 3600

    cache = TokenCache(clock=clock, margin=lambda: 90)

    first = cache.get("okta:1", mint)
    clock.now += 3600 - 91
    still = cache.get("okta:1", mint)
    clock.now += 2
    renewed = cache.get("okta:1", mint)

    assert first == still == "token-1"
    assert renewed == "token-2"


def test_token_cache_margin_between_60_and_120():
    clock = Clock()
    cache = TokenCache(clock=clock)

    cache.get("k", lambda: ("t", 3600))

    renew_in = cache._tokens["k"].renew_at - clock.now
    assert 3600 - 120 <= renew_in <= 3600 - 60


def test_token_cache_invalidate_keeps_newer_token():
    clock = Clock()
    tokens = iter(["a", "b"])
    cache = TokenCache(clock=clock, margin=lambda: 60)
    cache.get("k", lambda: (next(tokens), 3600))
    cache.invalidate("k", "a")
    cache.get("k", lambda: (next(tokens), 3600))

    cache.invalidate("k", "a")  # a late worker drops its stale token

    assert cache.get("k", lambda: ("c", 3600)) == "b"


def test_http_short_body_is_one_line():
    body = "<html>\n  <body>\n" + "word " * 100 + "\n</body></html>"

    line = short_body(body, limit=50)

    assert "\n" not in line
    assert len(line) == 50
    assert line.startswith("<html> <body> word word")
    assert line.endswith("…")
    assert short_body("  ok \n") == "ok"


def test_http_connection_refused_is_named():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    client = HttpClient(f"http://127.0.0.1:{port}", label="test", timeout=(1, 1))

    with pytest.raises(HttpConnectionError) as caught:
        client.request("GET", "/api")

    assert str(caught.value) == (
        f"Could not connect to http://127.0.0.1:{port}/api: connection refused. "
        "Check the URL and that the service is running."
    )
