"""One HTTP layer for every vendor client: timeouts, rate-limit retries, tokens.

Each client builds an `HttpClient` with its vendor's rate-limit style. The
client retries only 429, 503 and 504, waits as long as the vendor's header says
(plus jitter), and gives up after a maximum number of attempts or a maximum
total wait. Sleeping and the clock are injectable, so tests run without waiting.

Okta clients also pace themselves before Okta responds with 429. Okta sends
`X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset` on every
response. When a response other than a 429 shows that `Remaining` is at or
below `RetryPolicy.pacing_threshold` times `Limit` (10% by default), the next
request to the same bucket waits until the reset plus jitter. Like the 429 wait,
it is measured from the server's `Date`. Pacing and the retries of one request
share the policy's maximum total wait. A pacing wait that would exceed it is
skipped and the request is sent at once, just as a 429 whose reset is too far
away is returned without waiting.

A bucket is the HTTP method and the path template: under `/api/v1/` every
second path segment (a user id, login, group id or lifecycle operation) becomes
`*`, so `POST /api/v1/users/00u.../lifecycle/suspend` is paced in
`POST /api/v1/users/*/lifecycle/*`. Budgets are kept per base URL and bucket in
a `RateLimitBudgets` table, which the clients of one process share through
`OKTA_RATE_LIMITS`. Each worker process keeps its own table.

NOTE: the headers do not name Okta's bucket, and Okta may group paths
differently from these templates. A request to a bucket that Exec has not seen
run low can still get a 429, which the retry rules above handle.
"""

import enum
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503, 504})
# A 503 or 504 may come after these methods were half done. Only a 429 is safe
# to repeat for them, because the vendor rejected the request before acting.
UNSAFE_METHODS = frozenset({"POST", "PATCH"})


class RateLimitStyle(enum.StrEnum):
    OKTA = "okta"  # X-Rate-Limit-Reset: epoch seconds, measured from Date
    CROWDSTRIKE = "crowdstrike"  # X-RateLimit-RetryAfter: epoch s (or ms)
    RETRY_AFTER = "retry_after"  # Retry-After: seconds or an HTTP date


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a client retries a 429, 503 or 504, and paces."""

    max_attempts: int = 3
    max_total_wait: float = 60.0
    max_jitter: float = 1.0
    # Wait before retrying a 503 or 504 that names no time, doubled each retry.
    fallback_wait: float = 1.0
    # Fraction of Okta's X-Rate-Limit-Limit at or below which the remaining
    # budget makes the next request to that bucket wait for the reset. The
    # 10% margin leaves room for other integrations that share the org's
    # budget. 0 turns pacing off.
    pacing_threshold: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.pacing_threshold < 1:
            raise ValueError(
                f"pacing_threshold must be at least 0 (no pacing) and below 1, "
                f"not {self.pacing_threshold!r}; use a fraction such as 0.1"
            )


class HttpConnectionError(Exception):
    """The vendor could not be reached, or did not respond within the timeout."""

    transient = True


class Auth(Protocol):
    def headers(self) -> dict[str, str]: ...

    def renew(self) -> bool:
        """Drop the current credential; return True if a new one can be minted."""
        ...


class StaticAuth:
    """A fixed Authorization header, such as Okta's `SSWS <token>`."""

    def __init__(self, value: str) -> None:
        self._value = value

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._value}

    def renew(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "StaticAuth(<redacted>)"


@dataclass
class CachedToken:
    value: str
    renew_at: float
    expires_at: float


class TokenCache:
    """Access tokens kept in memory, one lock per credential.

    A token is renewed 60 to 120 s before it expires (a random margin, so
    workers do not renew together), or halfway through its life when it lives
    shorter than that. The lock per credential means that only one thread mints
    while the others wait for its token.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        margin: Callable[[], float] = lambda: random.uniform(60, 120),  # noqa: S311
    ) -> None:
        self._clock = clock
        self._margin = margin
        self._tokens: dict[str, CachedToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: str, mint: Callable[[], tuple[str, float]]) -> str:
        """Return a valid token for `key`, calling `mint` only when it is due.

        `mint` returns the token and its lifetime in seconds.
        """
        with self._lock_for(key):
            cached = self._tokens.get(key)
            now = self._clock()
            if cached is not None and now < cached.renew_at:
                return cached.value

            value, lifetime = mint()
            now = self._clock()
            margin = min(self._margin(), lifetime / 2)
            self._tokens[key] = CachedToken(
                value, now + lifetime - margin, now + lifetime
            )
            return value

    def invalidate(self, key: str, value: str) -> None:
        """Forget `value`, unless another thread has already replaced it."""
        with self._lock_for(key):
            cached = self._tokens.get(key)
            if cached is not None and cached.value == value:
                del self._tokens[key]


TOKEN_CACHE = TokenCache()


class CachedTokenAuth:
    """A bearer token from a TokenCache; `renew` drops it so the next is fresh."""

    def __init__(
        self,
        cache: TokenCache,
        key: str,
        mint: Callable[[], tuple[str, float]],
        scheme: str = "Bearer",
    ) -> None:
        self._cache = cache
        self._key = key
        self._mint = mint
        self._scheme = scheme
        self._last = ""

    def headers(self) -> dict[str, str]:
        self._last = self._cache.get(self._key, self._mint)
        return {"Authorization": f"{self._scheme} {self._last}"}

    def renew(self) -> bool:
        if self._last:
            self._cache.invalidate(self._key, self._last)
        return True

    def __repr__(self) -> str:
        return f"CachedTokenAuth(key={self._key!r})"


def header_values(response: requests.Response, name: str) -> list[str]:
    """Return every value of a header that may be sent more than once.

    `requests` joins repeated headers as "a, b"; the raw urllib3 headers keep
    them apart. Responses built without a raw body fall back to splitting.
    """
    raw_headers = getattr(response.raw, "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "getlist"):
        values = raw_headers.getlist(name)
    else:
        joined = response.headers.get(name)
        values = [joined] if joined is not None else []
    return [
        part.strip() for value in values for part in value.split(",") if part.strip()
    ]


def _server_now(response: requests.Response) -> float | None:
    date = response.headers.get("Date")
    if not date:
        return None
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None


def _min_number(values: list[str]) -> float | None:
    numbers = []
    for value in values:
        try:
            numbers.append(float(value))
        except ValueError:
            continue
    return min(numbers) if numbers else None


def rate_limit_wait(
    response: requests.Response, style: RateLimitStyle, now: float
) -> float | None:
    """Return the seconds the vendor asks us to wait, or None if it names none.

    Okta's reset time is compared with the server's own `Date`, never with our
    clock, so a skewed local clock cannot stretch or shrink the wait.
    """
    if style == RateLimitStyle.OKTA:
        wait = _okta_reset_wait(response)
        return wait if wait is not None else _retry_after(response, now)

    if style == RateLimitStyle.CROWDSTRIKE:
        retry_at = _min_number(header_values(response, "X-RateLimit-RetryAfter"))
        if retry_at is None:
            return _retry_after(response, now)
        if retry_at > 1e11:  # milliseconds since the epoch
            retry_at /= 1000
        server_now = _server_now(response)
        return max(retry_at - (server_now if server_now is not None else now), 0.0)

    return _retry_after(response, now)


def _okta_reset_wait(response: requests.Response) -> float | None:
    """Return the seconds until Okta's X-Rate-Limit-Reset plus 1, from `Date`."""
    reset = _min_number(header_values(response, "X-Rate-Limit-Reset"))
    server_now = _server_now(response)
    if reset is None or server_now is None:
        return None
    return max(reset - server_now + 1, 0.0)


def _retry_after(response: requests.Response, now: float) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


def okta_rate_limit_bucket(method: str, url: str) -> str:
    """Return the bucket an Okta request is paced in: method and path template.

    Under /api/v1/ segments alternate between a collection and an item, so each
    item becomes "*". The template never contains a login or an id.
    """
    path = urlsplit(url).path
    prefix = "/api/v1/"
    if not path.startswith(prefix):
        return f"{method} {path}"
    segments = [segment for segment in path[len(prefix) :].split("/") if segment]
    template = ["*" if index % 2 else segment for index, segment in enumerate(segments)]
    return f"{method} {prefix}{'/'.join(template)}"


@dataclass(frozen=True)
class RateLimitBudget:
    """The budget Okta last reported for a bucket, with `resets_at` on our clock."""

    limit: int
    remaining: int
    resets_at: float

    def is_low(self, threshold: float) -> bool:
        return self.remaining <= threshold * self.limit


class RateLimitBudgets:
    """The last budget Okta reported for each org and bucket, shared by threads.

    The lock guards only the table. Callers sleep outside it, so threads pacing
    one bucket wait side by side and never hold up another bucket.
    """

    def __init__(self) -> None:
        self._budgets: dict[tuple[str, str], RateLimitBudget] = {}
        self._lock = threading.Lock()

    def record(
        self, key: tuple[str, str], response: requests.Response, now: float
    ) -> None:
        """Store the budget a response reports for `key` (base URL, bucket).

        A response without a positive limit, a remaining count, a reset time or
        a `Date` changes nothing. Okta sends limit 0 when the concurrent-request
        limit was hit, which is not a per-window budget.
        """
        limit = _min_number(header_values(response, "X-Rate-Limit-Limit"))
        remaining = _min_number(header_values(response, "X-Rate-Limit-Remaining"))
        wait = _okta_reset_wait(response)
        if limit is None or remaining is None or wait is None or limit <= 0:
            return

        budget = RateLimitBudget(int(limit), int(remaining), now + wait)
        with self._lock:
            self._budgets[key] = budget

    def get(self, key: tuple[str, str]) -> RateLimitBudget | None:
        with self._lock:
            return self._budgets.get(key)


# One table per process, so that the short-lived clients each task builds
# still see what earlier requests to the same org reported.
OKTA_RATE_LIMITS = RateLimitBudgets()


class HttpClient:
    """A `requests.Session` for one vendor account, with retries and auth.

    `label` names the account in logs (for example "okta connector=3"). With
    `redact_urls` the URL never reaches a log or an error, for vendors such as
    Slack whose webhook URL is itself the secret. Okta clients that share
    `rate_limits` pace by the budgets any of them recorded. Without it a client
    paces only by its own responses.
    """

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        style: RateLimitStyle = RateLimitStyle.RETRY_AFTER,
        auth: Auth | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        policy: RetryPolicy | None = None,
        redact_urls: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        rate_limits: RateLimitBudgets | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = label
        self.style = style
        self.auth = auth
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.redact_urls = redact_urls
        self.sleep = sleep
        self.clock = clock
        self.session = session or requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "Exec"
        self.rate_limits: RateLimitBudgets | None = None
        if style == RateLimitStyle.OKTA and self.policy.pacing_threshold > 0:
            self.rate_limits = rate_limits or RateLimitBudgets()

    def describe_url(self, url: str) -> str:
        return "<redacted URL>" if self.redact_urls else url.split("?", 1)[0]

    def absolute_url(self, path_or_url: str) -> str:
        """Join a path to the base URL; accept a full URL only on the same origin.

        A `next` link that pointed at another host would carry our credential
        there, so it is rejected.
        """
        if not path_or_url.startswith(("http://", "https://")):
            return self.base_url + path_or_url
        target, base = urlsplit(path_or_url), urlsplit(self.base_url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise ValueError(
                f"refusing to follow {target.scheme}://{target.netloc}: it is not "
                f"the connector's origin {base.scheme}://{base.netloc}"
            )
        return path_or_url

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        use_auth: bool = True,
    ) -> requests.Response:
        """Send one request, paced and retried; return the last response.

        The caller maps the status code; only transport failures raise
        (HttpConnectionError). A 401 makes a renewable credential re-mint once.
        """
        url = self.absolute_url(path_or_url)
        method = method.upper()
        extra = dict(headers or {})
        bucket = okta_rate_limit_bucket(method, url)
        attempt = 0
        waited = 0.0
        reminted = False
        while True:
            attempt += 1
            waited += self._pace(bucket, waited)
            response = self._send(method, url, params, json, data, extra, use_auth)
            # A 429's own reset time is waited for by the retry below.
            if self.rate_limits is not None and response.status_code != 429:
                key = (self.base_url, bucket)
                self.rate_limits.record(key, response, self.clock())

            if response.status_code == 401 and use_auth and self.auth and not reminted:
                reminted = True
                if self.auth.renew():
                    logger.info(
                        "re-minting token after 401 vendor=%s method=%s url=%s",
                        self.label,
                        method,
                        self.describe_url(url),
                    )
                    attempt -= 1
                    continue

            delay = self._retry_delay(method, response, attempt, waited)
            if delay is None:
                return response

            logger.warning(
                "retrying vendor=%s method=%s url=%s status=%s attempt=%d wait=%.1fs",
                self.label,
                method,
                self.describe_url(url),
                response.status_code,
                attempt,
                delay,
            )
            self.sleep(delay)
            waited += delay
            if self.style == RateLimitStyle.OKTA:
                request_id = response.headers.get("X-Okta-Request-Id")
                if request_id:
                    extra["X-Okta-Retry-For"] = request_id
                extra["X-Okta-Retry-Count"] = str(attempt)

    def _pace(self, bucket: str, waited: float) -> float:
        """Sleep until a bucket whose budget ran low resets; return the wait."""
        if self.rate_limits is None:
            return 0.0
        budget = self.rate_limits.get((self.base_url, bucket))
        if budget is None or not budget.is_low(self.policy.pacing_threshold):
            return 0.0
        delay = budget.resets_at - self.clock()
        if delay <= 0:
            return 0.0
        delay += random.uniform(0, self.policy.max_jitter)  # noqa: S311

        if waited + delay > self.policy.max_total_wait:
            logger.warning(
                "not pacing vendor=%s bucket=%s wait=%.1fs exceeds max total wait "
                "%.0fs; sending now",
                self.label,
                bucket,
                delay,
                self.policy.max_total_wait,
            )
            return 0.0
        logger.info(
            "pacing vendor=%s bucket=%s wait=%.1fs remaining=%d limit=%d",
            self.label,
            bucket,
            delay,
            budget.remaining,
            budget.limit,
        )
        self.sleep(delay)
        return delay

    def _retry_delay(
        self, method: str, response: requests.Response, attempt: int, waited: float
    ) -> float | None:
        """Return how long to wait before the next attempt, or None to stop."""
        status = response.status_code
        if status not in RETRY_STATUSES or attempt >= self.policy.max_attempts:
            return None
        if status != 429 and method in UNSAFE_METHODS:
            return None

        # Rate-limit headers name a wait only on a 429; on a 503 or 504 Okta's
        # reset time is just the end of the current window.
        if status == 429:
            wait = rate_limit_wait(response, self.style, self.clock())
        else:
            wait = _retry_after(response, self.clock())
        if wait is None:
            if status == 429 and self.style == RateLimitStyle.OKTA:
                # Okta always sends the reset time; without it a guess would
                # only spend more of the rate limit.
                return None
            wait = self.policy.fallback_wait * 2 ** (attempt - 1)
        wait += random.uniform(0, self.policy.max_jitter)  # noqa: S311

        if waited + wait > self.policy.max_total_wait:
            logger.warning(
                "giving up vendor=%s status=%s wait=%.1fs exceeds max total wait %.0fs",
                self.label,
                status,
                wait,
                self.policy.max_total_wait,
            )
            return None
        return wait

    def _send(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        json: Any,
        data: Any,
        headers: dict[str, str],
        use_auth: bool,
    ) -> requests.Response:
        headers = dict(headers)
        if use_auth and self.auth is not None:
            headers.update(self.auth.headers())
        try:
            return self.session.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.ConnectTimeout:
            raise HttpConnectionError(
                f"Timed out connecting to {self.describe_url(url)} after "
                f"{self.timeout[0]:g} s. Check the URL and that the service is "
                "reachable from Exec."
            ) from None
        except requests.ReadTimeout:
            raise HttpConnectionError(
                f"No response from {self.describe_url(url)} within "
                f"{self.timeout[1]:g} s. The service may be overloaded; try again "
                "later."
            ) from None
        except requests.ConnectionError as error:
            raise HttpConnectionError(
                f"Could not connect to {self.describe_url(url)}: "
                f"{connection_failure(error)}. Check the URL and that the service "
                "is running."
            ) from None


def connection_failure(error: BaseException) -> str:
    """Name the socket or TLS error under a `requests.ConnectionError` in words.

    `requests` wraps urllib3's MaxRetryError, which wraps NewConnectionError,
    whose context is the OSError. The walk follows args, `reason` and context.
    """
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(current, socket.gaierror):
            return "the host name could not be resolved"
        if isinstance(current, ssl.SSLCertVerificationError):
            return "the TLS certificate could not be verified"
        if isinstance(current, ssl.SSLError):
            return "the TLS handshake failed"
        linked = [*current.args, getattr(current, "reason", None)]
        linked += [current.__cause__, current.__context__]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return "the connection failed"


def short_body(text: str, limit: int = 200) -> str:
    """Return a response body as one line of at most `limit` characters.

    A receiver may respond with a whole HTML page, but a message or log line
    only needs its start.
    """
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
