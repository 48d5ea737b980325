"""A fake Okta org on 127.0.0.1 for demos and tests. It is not Okta.

It serves the parts of the Okta Management API that Exec calls: users in every
status, groups of each type, link pagination, lifecycle rules, sessions, group
membership, SSWS tokens and an OAuth token endpoint for private-key JWT service
apps. Each API bucket (method and route, such as `GET /api/v1/users/*`) has a
request budget per window, reported in the `X-Rate-Limit-*` headers and
rejected with 429 once spent. Switches on `SandboxState` reproduce awkward real
behaviour: 429s with duplicate rate-limit headers, short token lifetimes, a
search index that lags writes and a `next` link on a full last page.
"""

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

USER_STATUSES = (
    "ACTIVE",
    "DEPROVISIONED",
    "LOCKED_OUT",
    "PASSWORD_EXPIRED",
    "PROVISIONED",
    "RECOVERY",
    "STAGED",
    "SUSPENDED",
)
FILTER_ATTRIBUTES = frozenset(
    {
        "status",
        "lastUpdated",
        "id",
        "profile.login",
        "profile.email",
        "profile.firstName",
        "profile.lastName",
    }
)
SCOPES = {
    ("GET", "users"): "okta.users.read",
    ("DELETE", "sessions"): "okta.users.manage",
    ("POST", "lifecycle"): "okta.users.manage",
    ("GET", "groups"): "okta.groups.read",
    ("PUT", "members"): "okta.groups.manage",
    ("DELETE", "members"): "okta.groups.manage",
}
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def new_id(prefix: str) -> str:
    """Return an id shaped like Okta's: a 3-letter prefix and 17 characters."""
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(17))


def stable_id(prefix: str, seed: str) -> str:
    """Return an Okta-shaped id derived from `seed`, the same on every start."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    characters = []
    for _ in range(17):
        digest, index = divmod(digest, len(ALPHABET))
        characters.append(ALPHABET[index])
    return prefix + "".join(characters)


def _timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + (
        f".{int(epoch * 1000) % 1000:03d}Z"
    )


@dataclass
class SandboxUser:
    id: str
    status: str
    profile: dict[str, Any]
    provider: str = "OKTA"
    provider_name: str = "OKTA"
    created: float = field(default_factory=time.time)
    last_updated: float = field(default_factory=time.time)
    # The copy `search` returns: the profile and status as of `indexed_at`.
    indexed: dict[str, Any] | None = None
    indexed_at: float = 0.0
    sessions_cleared: int = 0
    oauth_tokens_revoked: int = 0


@dataclass
class SandboxGroup:
    id: str
    type: str
    name: str
    description: str = ""
    members: set[str] = field(default_factory=set)


@dataclass
class OAuthClient:
    client_id: str
    public_key: rsa.RSAPublicKey
    scopes: frozenset[str]


@dataclass
class IssuedToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class RateWindow:
    """One bucket's budget: `limit` requests until `reset` (epoch seconds)."""

    limit: int
    reset: int
    used: int = 0

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("X-Rate-Limit-Limit", str(self.limit)),
            ("X-Rate-Limit-Remaining", str(max(self.limit - self.used, 0))),
            ("X-Rate-Limit-Reset", str(self.reset)),
        ]


class SandboxError(Exception):
    def __init__(self, status: int, code: str, summary: str, **extra: Any) -> None:
        super().__init__(summary)
        self.status = status
        self.code = code
        self.summary = summary
        self.causes: list[str] = extra.get("causes", [])
        self.headers: dict[str, str] = extra.get("headers", {})


class SandboxState:
    """The in-memory org and its switches. Tests change the switches directly."""

    def __init__(self, *, clock: Any = time.time) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.users: dict[str, SandboxUser] = {}
        self.groups: dict[str, SandboxGroup] = {}
        self.api_tokens: set[str] = set()
        self.oauth_clients: dict[str, OAuthClient] = {}
        self.issued: dict[str, IssuedToken] = {}
        self.base_url = ""
        self.requests: list[dict[str, Any]] = []

        self.search_lag_seconds = 0.0
        self.token_lifetime = 3600
        self.next_on_full_last_page = False
        self.vary_cursor_format = False
        # Seconds added to the server's clock, to test clients that must use
        # the server's Date rather than their own clock.
        self.clock_skew = 0.0
        self.invalid_search_error_code = "E0000031"
        # Each entry makes one coming /api/v1 request fail with a 429.
        self.queued_rate_limits: list[dict[str, Any]] = []
        self.queued_failures: list[int] = []
        # Requests each bucket allows per window, unless `rate_limits` names
        # the bucket, as in rate_limits["GET /api/v1/users/*"] = 5.
        self.rate_limit = 600
        self.rate_limits: dict[str, int] = {}
        self.rate_limit_window = 60.0
        self.rate_windows: dict[str, RateWindow] = {}

    def now(self) -> float:
        return self.clock() + self.clock_skew

    # Directory changes

    def add_user(
        self,
        login: str,
        first_name: str,
        last_name: str,
        *,
        status: str = "ACTIVE",
        email: str | None = None,
        user_id: str | None = None,
        provider: str = "OKTA",
        provider_name: str = "OKTA",
        **profile: Any,
    ) -> SandboxUser:
        with self.lock:
            user = SandboxUser(
                id=user_id or new_id("00u"),
                status=status,
                profile={
                    "login": login,
                    "email": email or login,
                    "firstName": first_name,
                    "lastName": last_name,
                    "displayName": f"{first_name} {last_name}",
                    **profile,
                },
                provider=provider,
                provider_name=provider_name,
                created=self.now(),
            )
            self.users[user.id] = user
            self._touch(user, new=True)
            return user

    def update_profile(self, user_id: str, **changes: Any) -> None:
        with self.lock:
            user = self.users[user_id]
            user.profile.update(changes)
            self._touch(user)

    def set_status(self, user_id: str, status: str) -> None:
        with self.lock:
            user = self.users[user_id]
            user.status = status
            self._touch(user)

    def _touch(self, user: SandboxUser, *, new: bool = False) -> None:
        """Record a write, which `search` returns only after `search_lag_seconds`."""
        now = self.now()
        user.last_updated = now
        if self.search_lag_seconds <= 0:
            user.indexed = {"status": user.status, "profile": dict(user.profile)}
            user.indexed_at = 0.0
            return
        if new:
            user.indexed = None
        user.indexed_at = now + self.search_lag_seconds

    def searchable(self, user: SandboxUser) -> dict[str, Any] | None:
        """Return the copy of the user that the search index contains now."""
        if user.indexed_at and self.now() >= user.indexed_at:
            user.indexed = {"status": user.status, "profile": dict(user.profile)}
            user.indexed_at = 0.0
        return user.indexed

    def add_group(
        self,
        name: str,
        *,
        type: str = "OKTA_GROUP",
        description: str = "",
    ) -> SandboxGroup:
        with self.lock:
            group = SandboxGroup(new_id("00g"), type, name, description)
            self.groups[group.id] = group
            return group

    def new_api_token(self) -> str:
        return self.add_api_token("00" + secrets.token_urlsafe(30))

    def add_api_token(self, token: str) -> str:
        """Accept `token` as an SSWS API token, such as one a connector stores."""
        self.api_tokens.add(token)
        return token

    def add_oauth_client(
        self, public_key_pem: str, scopes: str, client_id: str | None = None
    ) -> str:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        assert isinstance(key, rsa.RSAPublicKey)
        client_id = client_id or new_id("0oa")
        self.oauth_clients[client_id] = OAuthClient(
            client_id, key, frozenset(scopes.split())
        )
        return client_id

    def queue_rate_limit(
        self, resets_in: tuple[float, ...] = (3, 4), *, concurrency: bool = False
    ) -> None:
        """Make the next API request get a 429 with one reset header per value."""
        self.queued_rate_limits.append(
            {"resets_in": resets_in, "concurrency": concurrency}
        )

    def spend_request(self, bucket: str) -> RateWindow:
        """Count one request against `bucket`; return a copy of its window.

        A new window opens once the current one has reset.
        """
        with self.lock:
            now = self.now()
            window = self.rate_windows.get(bucket)
            if window is None or now >= window.reset:
                window = RateWindow(
                    limit=self.rate_limits.get(bucket, self.rate_limit),
                    reset=int(now + self.rate_limit_window),
                )
                self.rate_windows[bucket] = window
            window.used += 1
            return replace(window)

    def user_json(self, user: SandboxUser, *, single: bool = False) -> dict[str, Any]:
        href = f"{self.base_url}/api/v1/users/{user.id}"
        links: dict[str, Any] = {"self": {"href": href}}
        if single:
            if user.status == "ACTIVE":
                links["suspend"] = {
                    "href": f"{href}/lifecycle/suspend",
                    "method": "POST",
                }
            if user.status == "SUSPENDED":
                links["unsuspend"] = {
                    "href": f"{href}/lifecycle/unsuspend",
                    "method": "POST",
                }
        created = _timestamp(user.created)
        return {
            "id": user.id,
            "status": user.status,
            "created": created,
            "activated": None if user.status in ("STAGED", "PROVISIONED") else created,
            "statusChanged": _timestamp(user.last_updated),
            "lastLogin": None,
            "lastUpdated": _timestamp(user.last_updated),
            "passwordChanged": None,
            "type": {"id": "oty1sandbox00000000"},
            "profile": dict(user.profile),
            "credentials": {
                "provider": {"type": user.provider, "name": user.provider_name}
            },
            "_links": links,
        }

    def group_json(self, group: SandboxGroup) -> dict[str, Any]:
        object_class = (
            "okta:windows_security_principal"
            if group.type == "APP_GROUP"
            else "okta:user_group"
        )
        return {
            "id": group.id,
            "created": _timestamp(0),
            "lastUpdated": _timestamp(0),
            "lastMembershipUpdated": _timestamp(0),
            "objectClass": [object_class],
            "type": group.type,
            "profile": {"name": group.name, "description": group.description},
            "_links": {"self": {"href": f"{self.base_url}/api/v1/groups/{group.id}"}},
        }


# Filter and search expressions: a small recursive-descent parser over the
# operators Okta documents (eq, sw, co, gt, ge, lt, le, pr, and, or, brackets).

TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([A-Za-z_][\w.]*))')


def _tokenize(expression: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    expression = expression.strip()
    while position < len(expression):
        match = TOKEN.match(expression, position)
        if not match or match.end() == position:
            raise ValueError(f"unexpected text at {expression[position:]!r}")
        opening, closing, string, word = match.groups()
        if opening:
            tokens.append(("(", opening))
        elif closing:
            tokens.append((")", closing))
        elif string is not None:
            tokens.append(("string", string.replace('\\"', '"')))
        else:
            tokens.append(("word", word))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, expression: str, *, filter_mode: bool) -> None:
        self.tokens = _tokenize(expression)
        self.position = 0
        self.filter_mode = filter_mode

    def parse(self) -> Any:
        node = self._or()
        if self.position != len(self.tokens):
            raise ValueError("unexpected text after the expression")
        return node

    def _peek_word(self) -> str:
        if self.position < len(self.tokens) and self.tokens[self.position][0] == "word":
            return self.tokens[self.position][1].lower()
        return ""

    def _or(self) -> Any:
        node = self._and()
        while self._peek_word() == "or":
            self.position += 1
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._term()
        while self._peek_word() == "and":
            self.position += 1
            node = ("and", node, self._term())
        return node

    def _term(self) -> Any:
        if self.position >= len(self.tokens):
            raise ValueError("expression ends too early")
        kind, value = self.tokens[self.position]
        if kind == "(":
            self.position += 1
            node = self._or()
            if (
                self.position >= len(self.tokens)
                or self.tokens[self.position][0] != ")"
            ):
                raise ValueError("missing closing bracket")
            self.position += 1
            return node
        if kind != "word":
            raise ValueError(f"expected an attribute name, found {value!r}")

        attribute = value
        self.position += 1
        operator = self._peek_word()
        self.position += 1
        allowed = (
            {"eq"}
            if self.filter_mode
            else {"eq", "sw", "co", "gt", "ge", "lt", "le", "pr"}
        )
        if self.filter_mode:
            if attribute not in FILTER_ATTRIBUTES:
                raise ValueError(f"filter does not support {attribute}")
            if attribute == "lastUpdated":
                allowed = {"eq", "gt", "ge", "lt", "le"}
        if operator not in allowed:
            raise ValueError(f"operator {operator!r} is not supported here")

        if operator == "pr":
            return ("pr", attribute, None)
        if (
            self.position >= len(self.tokens)
            or self.tokens[self.position][0] != "string"
        ):
            raise ValueError(f"expected a quoted value after {attribute} {operator}")
        literal = self.tokens[self.position][1]
        self.position += 1
        return (operator, attribute, literal)


def _attribute(record: dict[str, Any], name: str) -> Any:
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _matches(node: Any, record: dict[str, Any], *, case_sensitive: bool) -> bool:
    operator = node[0]
    if operator == "and":
        return _matches(node[1], record, case_sensitive=case_sensitive) and _matches(
            node[2], record, case_sensitive=case_sensitive
        )
    if operator == "or":
        return _matches(node[1], record, case_sensitive=case_sensitive) or _matches(
            node[2], record, case_sensitive=case_sensitive
        )
    value = _attribute(record, node[1])
    if operator == "pr":
        return value not in (None, "")
    if value is None:
        return False
    actual, expected = str(value), node[2]
    if not case_sensitive:
        actual, expected = actual.lower(), expected.lower()
    checks = {
        "eq": actual == expected,
        "sw": actual.startswith(expected),
        "co": expected in actual,
        "gt": actual > expected,
        "ge": actual >= expected,
        "lt": actual < expected,
        "le": actual <= expected,
    }
    return checks[operator]


class SandboxHandler(BaseHTTPRequestHandler):
    server: "SandboxServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the sandbox keeps its own request list instead

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(self.server.state.now(), usegmt=True)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request_id = secrets.token_urlsafe(12)
        # Set by _route once the request is counted against its bucket.
        self.rate_headers: list[tuple[str, str]] = []
        entry = {
            "method": method,
            "path": parts.path,
            "query": query,
            "retry_count": self.headers.get("X-Okta-Retry-Count"),
            "status": 0,
        }
        with state.lock:
            state.requests.append(entry)
        try:
            status, payload, headers = self._route(method, parts.path, query, body)
        except SandboxError as error:
            status = error.status
            headers = dict(error.headers)
            payload = {
                "errorCode": error.code,
                "errorSummary": error.summary,
                "errorLink": error.code,
                "errorId": "oae" + secrets.token_urlsafe(16),
                "errorCauses": [{"errorSummary": cause} for cause in error.causes],
            }
            if error.code.islower():  # an OAuth error from the token endpoint
                payload = {"error": error.code, "error_description": error.summary}
        entry["status"] = status
        self._reply(status, payload, headers, request_id)

    def _reply(self, status: int, payload: Any, headers: Any, request_id: str) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("X-Okta-Request-Id", request_id)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        pairs = headers.items() if isinstance(headers, dict) else headers
        names = {name.lower() for name, _ in pairs}
        if "x-rate-limit-reset" not in names:
            # Requests that reach no bucket (the token endpoint, unknown paths,
            # rejected tokens) are not counted but still carry the headers.
            reset = str(int(self.server.state.now()) + 60)
            for name, value in self.rate_headers or (
                ("X-Rate-Limit-Limit", "600"),
                ("X-Rate-Limit-Remaining", "599"),
                ("X-Rate-Limit-Reset", reset),
            ):
                self.send_header(name, value)
        for name, value in pairs:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # Routing

    def _route(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, Any, Any]:
        state = self.server.state
        if path == "/oauth2/v1/token" and method == "POST":
            return self._token(body)
        if not path.startswith("/api/v1/"):
            raise SandboxError(404, "E0000022", "The endpoint does not exist.")

        with state.lock:
            if state.queued_rate_limits:
                return self._rate_limited(state.queued_rate_limits.pop(0))
            if state.queued_failures:
                status = state.queued_failures.pop(0)
                raise SandboxError(status, "E0000009", "Internal Server Error")

        segments = [unquote(s) for s in path[len("/api/v1/") :].split("/") if s]
        scopes = self._authenticate()
        route, handler_args = self._match(method, segments)
        window = state.spend_request(route[2])
        self.rate_headers = window.headers()
        if window.exceeded:
            raise SandboxError(
                429,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            )
        if scopes is not None:
            required = SCOPES.get((method, route[1]))
            if required and required not in scopes:
                raise SandboxError(
                    403,
                    "E0000006",
                    "You do not have permission to perform the requested action",
                    headers={
                        "WWW-Authenticate": (
                            'Bearer authorization_uri="http://127.0.0.1", '
                            'realm="http://127.0.0.1", scope="'
                            f'{required}", error="insufficient_scope", '
                            'error_description="The access token provided does '
                            'not contain the required scopes.", '
                            f'resource="{path}"'
                        )
                    },
                )
        with state.lock:
            return route[0](query, *handler_args)

    def _match(self, method: str, segments: list[str]) -> tuple[Any, list[str]]:
        routes = {
            ("GET", ("users",)): (self._list_users, "users"),
            ("GET", ("users", "*")): (self._get_user, "users"),
            ("GET", ("users", "*", "groups")): (self._user_groups, "groups"),
            ("DELETE", ("users", "*", "sessions")): (self._clear_sessions, "sessions"),
            ("POST", ("users", "*", "lifecycle", "*")): (self._lifecycle, "lifecycle"),
            ("GET", ("groups",)): (self._list_groups, "groups"),
            ("GET", ("groups", "*")): (self._get_group, "groups"),
            ("GET", ("groups", "*", "users")): (self._group_users, "groups"),
            ("PUT", ("groups", "*", "users", "*")): (self._add_member, "members"),
            ("DELETE", ("groups", "*", "users", "*")): (self._remove_member, "members"),
        }
        for (route_method, pattern), target in routes.items():
            if route_method != method or len(pattern) != len(segments):
                continue
            if all(p == "*" or p == s for p, s in zip(pattern, segments, strict=True)):
                arguments = [
                    s for p, s in zip(pattern, segments, strict=True) if p == "*"
                ]
                bucket = f"{method} /api/v1/{'/'.join(pattern)}"
                return (target[0], target[1], bucket), arguments
        raise SandboxError(404, "E0000022", "The endpoint does not exist.")

    def _authenticate(self) -> frozenset[str] | None:
        """Check the Authorization header; return the token's scopes (None: SSWS)."""
        state = self.server.state
        header = self.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme == "SSWS" and credential in state.api_tokens:
            return None
        if scheme == "Bearer":
            issued = state.issued.get(credential)
            if issued and state.now() < issued.expires_at:
                return issued.scopes
        raise SandboxError(
            401,
            "E0000011",
            "Invalid token provided",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    def _rate_limited(self, spec: dict[str, Any]) -> tuple[int, Any, Any]:
        now = int(self.server.state.now())
        limit = "0" if spec["concurrency"] else "600"
        headers = [("X-Rate-Limit-Limit", limit), ("X-Rate-Limit-Remaining", "0")]
        headers += [
            ("X-Rate-Limit-Reset", str(now + int(seconds)))
            for seconds in spec["resets_in"]
        ]
        payload = {
            "errorCode": "E0000047",
            "errorSummary": "API call exceeded rate limit due to too many requests.",
            "errorLink": "E0000047",
            "errorId": "oae" + secrets.token_urlsafe(16),
            "errorCauses": [],
        }
        return 429, payload, headers

    # OAuth token endpoint

    def _token(self, body: bytes) -> tuple[int, Any, Any]:
        state = self.server.state
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            raise SandboxError(400, "unsupported_grant_type", "Use client_credentials.")
        claims = self._verify_assertion(form.get("client_assertion", ""))
        client = state.oauth_clients[claims["iss"]]
        requested = frozenset(form.get("scope", "").split())
        if not requested or not requested <= client.scopes:
            raise SandboxError(
                400,
                "invalid_scope",
                "The following scopes are not granted: "
                + " ".join(sorted(requested - client.scopes)),
            )
        token = secrets.token_urlsafe(32)
        with state.lock:
            state.issued[token] = IssuedToken(
                client.client_id, requested, state.now() + state.token_lifetime
            )
        payload = {
            "token_type": "Bearer",
            "expires_in": state.token_lifetime,
            "access_token": token,
            "scope": " ".join(sorted(requested)),
        }
        return 200, payload, {}

    def _verify_assertion(self, assertion: str) -> dict[str, Any]:
        state = self.server.state
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            claims = json.loads(_b64decode(claims_b64))
            header = json.loads(_b64decode(header_b64))
        except ValueError:
            raise SandboxError(
                401, "invalid_client", "The client_assertion is malformed."
            ) from None
        client = state.oauth_clients.get(claims.get("iss", ""))
        if client is None or claims.get("sub") != claims.get("iss"):
            raise SandboxError(401, "invalid_client", "Unknown client.")
        if header.get("alg") != "RS256":
            raise SandboxError(401, "invalid_client", "Only RS256 is accepted here.")
        try:
            client.public_key.verify(
                _b64decode(signature_b64),
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise SandboxError(
                401, "invalid_client", "The client_assertion signature is invalid."
            ) from None
        now = state.now()
        if claims.get("aud") != f"{state.base_url}/oauth2/v1/token":
            raise SandboxError(
                401, "invalid_client", "The audience is not this token endpoint."
            )
        expires = float(claims.get("exp", 0))
        if not now - 60 < expires <= now + 3600 + 60:
            raise SandboxError(
                401,
                "invalid_client",
                "The client_assertion has expired or lives too long.",
            )
        return claims

    # Users

    def _find_user(self, reference: str) -> SandboxUser:
        state = self.server.state
        if reference in state.users:
            return state.users[reference]
        expected_login = reference.lower()
        by_login = [
            u
            for u in state.users.values()
            if u.profile["login"].lower() == expected_login
        ]
        if by_login:
            return by_login[0]
        if "@" not in reference:
            shortname = [
                u
                for u in state.users.values()
                if u.profile["login"].lower().split("@")[0] == expected_login
            ]
            if len(shortname) == 1:
                return shortname[0]
        raise SandboxError(
            404, "E0000007", f"Not found: Resource not found: {reference} (User)"
        )

    def _get_user(self, query: dict[str, str], reference: str) -> tuple[int, Any, Any]:
        user = self._find_user(reference)
        return (
            200,
            self.server.state.user_json(user, single=True),
            {"ETag": f'W/"{user.last_updated}"'},
        )

    def _list_users(self, query: dict[str, str]) -> tuple[int, Any, Any]:
        state = self.server.state
        users = sorted(state.users.values(), key=lambda u: u.id)
        records: list[tuple[SandboxUser, dict[str, Any]]] = []
        try:
            if "search" in query:
                tree = _Parser(query["search"], filter_mode=False).parse()
                for user in users:
                    indexed = state.searchable(user)
                    if indexed is None:
                        continue
                    record = {"id": user.id, **indexed}
                    if _matches(tree, record, case_sensitive=False):
                        records.append((user, record))
            elif "filter" in query:
                tree = _Parser(query["filter"], filter_mode=True).parse()
                for user in users:
                    record = {
                        "id": user.id,
                        "status": user.status,
                        "lastUpdated": _timestamp(user.last_updated),
                        "profile": user.profile,
                    }
                    if _matches(tree, record, case_sensitive=True):
                        records.append((user, record))
            elif "q" in query:
                prefix = query["q"].lower()
                for user in users:
                    names = (
                        user.profile.get(k, "") or ""
                        for k in ("firstName", "lastName", "email")
                    )
                    if user.status != "DEPROVISIONED" and any(
                        n.lower().startswith(prefix) for n in names
                    ):
                        records.append((user, {}))
                records = records[: int(query.get("limit", 10))]
                return 200, [state.user_json(u) for u, _ in records], {}
            else:
                records = [(u, {}) for u in users if u.status != "DEPROVISIONED"]
        except ValueError as error:
            raise SandboxError(
                400,
                state.invalid_search_error_code,
                "Invalid search criteria.",
                causes=[str(error)],
            ) from None
        return self._page(
            [state.user_json(u) for u, _ in records], query, "/api/v1/users"
        )

    def _page(
        self, items: list[dict[str, Any]], query: dict[str, str], path: str
    ) -> tuple[int, Any, Any]:
        """Cut one page and add `self` and, while more remain, `next` links."""
        state = self.server.state
        try:
            limit = max(1, min(int(query.get("limit", 200)), 10000))
        except ValueError:
            raise SandboxError(
                400, "E0000001", "Api validation failed: limit"
            ) from None
        start = _decode_cursor(query.get("after", ""))
        page = items[start : start + limit]
        end = start + len(page)
        query_without_cursor = {k: v for k, v in query.items() if k != "after"}
        base = f"{state.base_url}{path}"
        links = [("Link", f'<{base}?{_encode(query_without_cursor)}>; rel="self"')]
        more = end < len(items) or (
            state.next_on_full_last_page and page and len(page) == limit
        )
        if more:
            cursor = _encode_cursor(end, varied=state.vary_cursor_format)
            next_query = _encode({**query_without_cursor, "after": cursor})
            links.append(("Link", f'<{base}?{next_query}>; rel="next"'))
        return 200, page, links

    def _clear_sessions(
        self, query: dict[str, str], user_id: str
    ) -> tuple[int, Any, Any]:
        user = self.server.state.users.get(user_id)
        if user is None:
            raise SandboxError(
                404, "E0000007", f"Not found: Resource not found: {user_id} (User)"
            )
        user.sessions_cleared += 1
        if query.get("oauthTokens") == "true":
            user.oauth_tokens_revoked += 1
        return 204, None, {}

    def _lifecycle(
        self, query: dict[str, str], reference: str, operation: str
    ) -> tuple[int, Any, Any]:
        state = self.server.state
        user = self._find_user(reference)
        rules = {
            "suspend": ("ACTIVE", "SUSPENDED", "active"),
            "unsuspend": ("SUSPENDED", "ACTIVE", "suspended"),
        }
        if operation not in rules:
            raise SandboxError(404, "E0000022", "The endpoint does not exist.")
        source, target, word = rules[operation]
        if user.status != source:
            raise SandboxError(
                400,
                "E0000001",
                f"Api validation failed: {operation}User",
                causes=[f"Cannot {operation} a user that is not {word}"],
            )
        state.set_status(user.id, target)
        return 200, {}, {}

    # Groups

    def _group(self, group_id: str) -> SandboxGroup:
        group = self.server.state.groups.get(group_id)
        if group is None:
            raise SandboxError(
                404,
                "E0000007",
                f"Not found: Resource not found: {group_id} (UserGroup)",
            )
        return group

    def _list_groups(self, query: dict[str, str]) -> tuple[int, Any, Any]:
        state = self.server.state
        groups = sorted(state.groups.values(), key=lambda g: g.id)
        if "q" in query:
            prefix = query["q"].lower()
            found = [g for g in groups if g.name.lower().startswith(prefix)][:300]
            return 200, [state.group_json(g) for g in found], {}
        items = [state.group_json(g) for g in groups]
        if "search" in query:
            try:
                tree = _Parser(query["search"], filter_mode=False).parse()
            except ValueError as error:
                raise SandboxError(
                    400,
                    state.invalid_search_error_code,
                    "Invalid search criteria.",
                    causes=[str(error)],
                ) from None
            items = [i for i in items if _matches(tree, i, case_sensitive=False)]
        return self._page(items, query, "/api/v1/groups")

    def _get_group(self, query: dict[str, str], group_id: str) -> tuple[int, Any, Any]:
        return 200, self.server.state.group_json(self._group(group_id)), {}

    def _group_users(
        self, query: dict[str, str], group_id: str
    ) -> tuple[int, Any, Any]:
        state = self.server.state
        group = self._group(group_id)
        members = [state.user_json(state.users[i]) for i in sorted(group.members)]
        return self._page(
            members, {"limit": "1000", **query}, f"/api/v1/groups/{group_id}/users"
        )

    def _user_groups(
        self, query: dict[str, str], reference: str
    ) -> tuple[int, Any, Any]:
        state = self.server.state
        user = self._find_user(reference)
        groups = [
            state.group_json(g)
            for g in sorted(state.groups.values(), key=lambda g: g.id)
            if user.id in g.members or g.type == "BUILT_IN"
        ]
        return self._page(groups, query, f"/api/v1/users/{user.id}/groups")

    def _change_membership(
        self, group_id: str, user_id: str, *, add: bool
    ) -> tuple[int, Any, Any]:
        group = self._group(group_id)
        if user_id not in self.server.state.users:
            raise SandboxError(
                404, "E0000007", f"Not found: Resource not found: {user_id} (User)"
            )
        if group.type != "OKTA_GROUP":
            raise SandboxError(
                403,
                "E0000006",
                "You do not have permission to perform the requested action",
            )
        if add:
            group.members.add(user_id)
        else:
            group.members.discard(user_id)
        return 204, None, {}

    def _add_member(
        self, query: dict[str, str], group_id: str, user_id: str
    ) -> tuple[int, Any, Any]:
        return self._change_membership(group_id, user_id, add=True)

    def _remove_member(
        self, query: dict[str, str], group_id: str, user_id: str
    ) -> tuple[int, Any, Any]:
        return self._change_membership(group_id, user_id, add=False)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode(query: dict[str, str]) -> str:
    return urlencode(query, quote_via=quote)


def _encode_cursor(offset: int, *, varied: bool) -> str:
    """Return an opaque cursor; `varied` changes its shape from page to page."""
    if varied and offset % 2:
        return "x" + base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip(
            "="
        )
    return f"c{offset:06d}"


def _decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        if cursor.startswith("x"):
            return int(_b64decode(cursor[1:]).decode().split(":")[1])
        return int(cursor[1:])
    except (ValueError, IndexError):
        raise SandboxError(400, "E0000001", "Api validation failed: after") from None


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: SandboxState, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), SandboxHandler)
        self.state = state
        state.base_url = f"http://127.0.0.1:{self.server_address[1]}"


class OktaSandbox:
    """A running fake Okta: `start()` serves in a thread, `stop()` shuts it down."""

    def __init__(self, state: SandboxState | None = None, port: int = 0) -> None:
        self.state = state or SandboxState()
        self.server = SandboxServer(self.state, port)
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def base_url(self) -> str:
        return self.state.base_url

    def start(self) -> "OktaSandbox":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def add_sample_directory(state: SandboxState) -> None:
    """Fill the sandbox with the sample people and groups the demo uses.

    Joren's Windows account is CORP\\joren, but his Okta login is
    joren.m@example.com, so only the mapped samAccountName finds him. User ids
    derive from the login, so identity links confirmed against the sandbox
    still point at the same people after a restart.
    """
    ad = {"provider": "ACTIVE_DIRECTORY", "provider_name": "corp.example.com"}
    people = [
        ("jane.doe@example.com", "Jane", "Doe", "ACTIVE", "jdoe"),
        ("joren.m@example.com", "Joren", "Maes", "ACTIVE", "joren"),
        ("john.smith@example.com", "John", "Smith", "ACTIVE", "jsmith"),
        ("john.taylor@example.com", "John", "Taylor", "ACTIVE", "jtaylor"),
        ("amara.okafor@example.com", "Amara", "Okafor", "ACTIVE", "aokafor"),
        ("zoe.angstrom@example.com", "Zoë", "Ångström", "ACTIVE", "zangstrom"),
        ("zoe.anders@example.com", "Zoe", "Anders", "ACTIVE", "zanders"),
        ("pat.new@example.com", "Pat", "New", "PROVISIONED", "pnew"),
        ("lee.locked@example.com", "Lee", "Locked", "LOCKED_OUT", "llocked"),
        ("sam.suspended@example.com", "Sam", "Suspended", "SUSPENDED", "ssuspended"),
        ("stu.staged@example.com", "Stu", "Staged", "STAGED", "sstaged"),
        ("eve.expired@example.com", "Eve", "Expired", "PASSWORD_EXPIRED", "eexpired"),
        ("rae.recovery@example.com", "Rae", "Recovery", "RECOVERY", "rrecovery"),
        ("old.leaver@example.com", "Old", "Leaver", "DEPROVISIONED", "oleaver"),
    ]
    for login, first, last, status, sam in people:
        state.add_user(
            login,
            first,
            last,
            status=status,
            user_id=stable_id("00u", login),
            samAccountName=sam,
            **ad,
        )
    state.add_group("SOC Quarantine", description="Users under incident response")
    state.add_group("Finance", description="Finance team")
    state.add_group(
        "CORP\\Domain Users", type="APP_GROUP", description="Imported from AD"
    )
    state.add_group("Everyone", type="BUILT_IN", description="All users")


def public_key_pem(private_key_pem: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )
