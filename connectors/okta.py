"""Okta Management API client: lookups, pagination and ensure-state operations.

Every write reads the user first, acts only when needed and reads again to
confirm, and returns an `EnsureResult` instead of raising for an expected
refusal such as suspending a user who is not active.
"""

import base64
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.choices import OktaAuthType, Outcome
from connectors.http import (
    OKTA_RATE_LIMITS,
    TOKEN_CACHE,
    CachedTokenAuth,
    HttpClient,
    RateLimitBudgets,
    RateLimitStyle,
    RetryPolicy,
    StaticAuth,
    TokenCache,
)

if TYPE_CHECKING:
    from connectors.models import Connector

logger = logging.getLogger(__name__)

GROUP_ID = re.compile(r"^00g[0-9A-Za-z]{17}$")
USER_ID = re.compile(r"^00u[0-9A-Za-z]{17}$")
MAX_PAGES = 50
ASSERTION_LIFETIME = 300  # seconds; Okta accepts at most one hour


class OktaError(Exception):
    """A non-2xx response from Okta, with its errorCode and errorSummary."""

    transient = False

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        error_code: str = "",
        error_summary: str = "",
        causes: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.error_summary = error_summary
        self.causes = causes or []


class OktaNotFound(OktaError):
    pass


class OktaAuthError(OktaError):
    """401: the API token or access token was rejected."""


class OktaForbidden(OktaError):
    """403: the credential lacks an admin role or an OAuth scope."""

    missing_scope = ""


class OktaInvalidRequest(OktaError):
    """400: a malformed filter or search, or a lifecycle call in the wrong state."""


class OktaRateLimited(OktaError):
    transient = True


class OktaServerError(OktaError):
    transient = True


class OktaPaginationError(OktaError):
    pass


def _error_from_response(response: requests.Response, action: str) -> OktaError:
    """Map an Okta error body (or an OAuth token error) to an exception."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}

    status = response.status_code
    code = str(body.get("errorCode") or body.get("error") or "")
    summary = str(body.get("errorSummary") or body.get("error_description") or "")
    causes = [
        str(cause.get("errorSummary", ""))
        for cause in body.get("errorCauses") or []
        if isinstance(cause, dict)
    ]
    detail = f"{code} {summary}".strip() or response.reason or "no error body"
    message = f"Okta {action} failed: HTTP {status} {detail}"

    kind: type[OktaError] = OktaError
    if status == 404:
        kind = OktaNotFound
    elif status == 401:
        kind = OktaAuthError
        message = f"Okta {action} failed: the credential was rejected ({detail})"
    elif status == 403:
        kind = OktaForbidden
    elif status == 400:
        kind = OktaInvalidRequest
    elif status == 429:
        kind = OktaRateLimited
        message = f"Okta {action} failed: rate limited ({detail}); try again later"
    elif status >= 500:
        kind = OktaServerError
    error = kind(
        message, status=status, error_code=code, error_summary=summary, causes=causes
    )

    if isinstance(error, OktaForbidden):
        scope = _missing_scope(response.headers.get("WWW-Authenticate", ""))
        if scope:
            error.missing_scope = scope
            error.args = (f"Okta {action} failed: missing scope {scope}",)
    return error


def _missing_scope(www_authenticate: str) -> str:
    if 'error="insufficient_scope"' not in www_authenticate:
        return ""
    match = re.search(r'scope="([^"]*)"', www_authenticate)
    return match.group(1) if match else ""


@dataclass
class EnsureResult:
    """The outcome of an ensure-state operation, with the user as last read."""

    outcome: Outcome
    reason: str = ""
    user: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if self.outcome == Outcome.ALREADY_IN_STATE:
            return "already in that state"
        if self.outcome in (Outcome.REFUSED, Outcome.FAILED):
            return f"{self.outcome}: {self.reason}"
        return str(self.outcome)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_rsa_private_key(private_key_pem: str) -> rsa.RSAPrivateKey:
    """Load an unencrypted RSA private key in PEM, or raise ValueError.

    The message never contains the key, so forms and logs may show it.
    """
    try:
        key = serialization.load_pem_private_key(
            private_key_pem.encode(), password=None
        )
    except TypeError:
        raise ValueError(
            "the private key is encrypted with a passphrase; export it without one"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(
            "the private key is not a valid PEM private key; paste the whole key, "
            "from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(
            "the private key is not an RSA key; Exec signs with RS256, so give the "
            "service app an RSA key"
        )
    return key


def sign_client_assertion(
    private_key_pem: str,
    *,
    client_id: str,
    audience: str,
    key_id: str = "",
    now: float | None = None,
) -> str:
    """Sign the RS256 client-assertion JWT a service app sends for a token."""
    key = load_rsa_private_key(private_key_pem)

    issued = int(now if now is not None else time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    if key_id:
        header["kid"] = key_id
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
        "jti": uuid.uuid4().hex,
    }
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(signature)


class OktaClient:
    """Calls to one Okta org through the shared HTTP layer."""

    def __init__(self, http: HttpClient, *, max_pages: int = MAX_PAGES) -> None:
        self.http = http
        self.max_pages = max_pages

    @classmethod
    def for_connector(
        cls,
        connector: "Connector",
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        token_cache: TokenCache = TOKEN_CACHE,
        rate_limits: RateLimitBudgets = OKTA_RATE_LIMITS,
        policy: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
    ) -> "OktaClient":
        """Build a client from a Connector, decrypting its secret."""
        base_url = connector.base_url.rstrip("/")
        label = f"okta connector={connector.pk}"
        common: dict[str, Any] = {
            "label": label,
            "style": RateLimitStyle.OKTA,
            "policy": policy,
            "sleep": sleep,
            "clock": clock,
            "timeout": timeout,
            "rate_limits": rate_limits,
        }
        secret = connector.get_secret()
        if not secret:
            raise ValueError(f"connector {connector.name!r} has no secret stored")

        if connector.okta_auth_type == OktaAuthType.SSWS:
            auth: Any = StaticAuth(f"SSWS {secret}")
        else:
            token_http = HttpClient(base_url, **common)
            fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:16]
            key = f"okta:{base_url}:{connector.client_id}:{fingerprint}"

            def mint() -> tuple[str, float]:
                return mint_access_token(
                    token_http,
                    client_id=connector.client_id,
                    private_key_pem=secret,
                    key_id=connector.key_id,
                    scopes=connector.scopes,
                    now=clock(),
                )

            auth = CachedTokenAuth(token_cache, key, mint)
        return cls(HttpClient(base_url, auth=auth, **common))

    # Reading

    def _call(
        self, method: str, path: str, action: str, **kwargs: Any
    ) -> requests.Response:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _error_from_response(response, action)
        return response

    def get_user(self, id_or_login: str) -> dict[str, Any]:
        """Read one user by id or login; strongly consistent. Raise OktaNotFound."""
        path = f"/api/v1/users/{quote(id_or_login, safe='')}"
        return self._call("GET", path, f"reading user {id_or_login}").json()

    def find_user(self, id_or_login: str) -> dict[str, Any] | None:
        try:
            return self.get_user(id_or_login)
        except OktaNotFound:
            return None

    def list_users(
        self,
        *,
        filter: str | None = None,
        search: str | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        """List users by `filter` (consistent) or `search` (may lag writes)."""
        params: dict[str, Any] = {"limit": limit}
        if filter is not None:
            params["filter"] = filter
        if search is not None:
            params["search"] = search
        return self.paginate("/api/v1/users", params, "listing users")

    def paginate(
        self, path: str, params: dict[str, Any], action: str
    ) -> list[dict[str, Any]]:
        """Follow `Link: rel="next"` exactly as given until it ends.

        The list ends on a response without a next link or on an empty page.
        More than `max_pages` pages raises, so a looping cursor cannot spin.
        """
        items: list[dict[str, Any]] = []
        response = self._call("GET", path, action, params=params)
        for _ in range(self.max_pages):
            page = response.json()
            if not isinstance(page, list):
                raise OktaError(f"Okta {action} failed: expected a JSON list")
            items.extend(page)
            next_url = response.links.get("next", {}).get("url")
            if not page or not next_url:
                return items
            response = self._call("GET", next_url, action)
        raise OktaPaginationError(
            f"Okta {action} failed: still more pages after {self.max_pages}; "
            "narrow the filter or raise the page cap"
        )

    def list_user_groups(self, user_id: str) -> list[dict[str, Any]]:
        path = f"/api/v1/users/{quote(user_id, safe='')}/groups"
        return self.paginate(path, {}, f"listing groups of user {user_id}")

    def get_group(self, group_id: str) -> dict[str, Any]:
        path = f"/api/v1/groups/{quote(group_id, safe='')}"
        return self._call("GET", path, f"reading group {group_id}").json()

    def find_groups_by_name(self, name: str) -> list[dict[str, Any]]:
        """Return groups whose name equals `name` exactly.

        `q` is a prefix match, so the exact comparison is done here.
        """
        response = self._call(
            "GET", "/api/v1/groups", f"finding group {name!r}", params={"q": name}
        )
        groups = response.json() or []
        return [g for g in groups if (g.get("profile") or {}).get("name") == name]

    def check(self) -> str:
        """Read one user to prove the URL and credential work; return a summary."""
        response = self._call(
            "GET", "/api/v1/users", "listing users", params={"limit": 1}
        )
        return f"connected to {self.http.base_url}; read {len(response.json())} user(s)"

    # Ensure-state operations

    def _read_user(self, user_id: str) -> dict[str, Any] | EnsureResult:
        try:
            return self.get_user(user_id)
        except OktaNotFound:
            return EnsureResult(Outcome.FAILED, f"Okta user {user_id} not found")
        except OktaForbidden as error:
            return EnsureResult(Outcome.FAILED, str(error))

    def clear_sessions(
        self, user_id: str, *, revoke_oauth_tokens: bool = False
    ) -> EnsureResult:
        """End the user's Okta sessions, and their OAuth tokens if asked."""
        user = self._read_user(user_id)
        if isinstance(user, EnsureResult):
            return user
        params = {
            "oauthTokens": "true" if revoke_oauth_tokens else "false",
            "forgetDevices": "false",
        }
        try:
            self._call(
                "DELETE",
                f"/api/v1/users/{quote(user['id'], safe='')}/sessions",
                "clearing sessions",
                params=params,
            )
        except (OktaForbidden, OktaNotFound) as error:
            return EnsureResult(Outcome.FAILED, str(error), user)
        # Okta exposes no session list to re-read; re-reading the user confirms
        # the account still exists and records its current status.
        user = self.get_user(user["id"])
        return EnsureResult(
            Outcome.DONE,
            user=user,
            details={"oauth_tokens_revoked": revoke_oauth_tokens},
        )

    def suspend(self, user_id: str) -> EnsureResult:
        return self._lifecycle(user_id, "suspend", "ACTIVE", "SUSPENDED")

    def unsuspend(self, user_id: str) -> EnsureResult:
        return self._lifecycle(user_id, "unsuspend", "SUSPENDED", "ACTIVE")

    def _lifecycle(
        self, user_id: str, operation: str, from_status: str, to_status: str
    ) -> EnsureResult:
        user = self._read_user(user_id)
        if isinstance(user, EnsureResult):
            return user
        status = user.get("status")
        if status == to_status:
            return EnsureResult(Outcome.ALREADY_IN_STATE, user=user)
        if status != from_status:
            return EnsureResult(
                Outcome.REFUSED,
                f"cannot {operation} a user in status {status}",
                user,
            )

        path = f"/api/v1/users/{quote(user['id'], safe='')}/lifecycle/{operation}"
        try:
            self._call("POST", path, f"{operation} of user {user['id']}")
        except OktaInvalidRequest as error:
            # Another change may have raced ours; the state decides.
            user = self.get_user(user["id"])
            if user.get("status") == to_status:
                return EnsureResult(Outcome.ALREADY_IN_STATE, user=user)
            causes = "; ".join(error.causes) or error.error_summary
            return EnsureResult(
                Outcome.REFUSED,
                f"cannot {operation} a user in status {user.get('status')} ({causes})",
                user,
            )
        except (OktaForbidden, OktaNotFound) as error:
            return EnsureResult(Outcome.FAILED, str(error), user)

        user = self.get_user(user["id"])
        if user.get("status") != to_status:
            return EnsureResult(
                Outcome.FAILED,
                f"Okta accepted the {operation} but the user is {user.get('status')}",
                user,
            )
        return EnsureResult(Outcome.DONE, user=user)

    def resolve_group(self, group: str) -> dict[str, Any] | EnsureResult:
        """Find a group by id or exact name; refuse anything but an OKTA_GROUP."""
        if GROUP_ID.match(group):
            try:
                found = self.get_group(group)
            except OktaNotFound:
                return EnsureResult(Outcome.REFUSED, f"no Okta group with id {group}")
        else:
            matches = self.find_groups_by_name(group)
            if not matches:
                return EnsureResult(Outcome.REFUSED, f"no Okta group named {group!r}")
            if len(matches) > 1:
                return EnsureResult(
                    Outcome.REFUSED,
                    f"{len(matches)} Okta groups are named {group!r}; give the "
                    "group id instead",
                )
            found = matches[0]

        if found.get("type") != "OKTA_GROUP":
            name = (found.get("profile") or {}).get("name", found.get("id"))
            return EnsureResult(
                Outcome.REFUSED,
                f"group {name!r} is of type {found.get('type')}; only OKTA_GROUP "
                "memberships can be changed in Okta, the others are managed by "
                "their source (such as Active Directory)",
            )
        return found

    def _is_member(self, user_id: str, group_id: str) -> bool:
        return any(g.get("id") == group_id for g in self.list_user_groups(user_id))

    def add_to_group(self, user_id: str, group: str) -> EnsureResult:
        return self._membership(user_id, group, add=True)

    def remove_from_group(self, user_id: str, group: str) -> EnsureResult:
        return self._membership(user_id, group, add=False)

    def _membership(self, user_id: str, group: str, *, add: bool) -> EnsureResult:
        user = self._read_user(user_id)
        if isinstance(user, EnsureResult):
            return user
        found = self.resolve_group(group)
        if isinstance(found, EnsureResult):
            found.user = user
            return found

        group_id = found["id"]
        details = {"group_id": group_id, "group_name": found["profile"].get("name")}
        if self._is_member(user["id"], group_id) == add:
            return EnsureResult(Outcome.ALREADY_IN_STATE, user=user, details=details)

        method = "PUT" if add else "DELETE"
        path = f"/api/v1/groups/{group_id}/users/{quote(user['id'], safe='')}"
        verb = "adding user to group" if add else "removing user from group"
        try:
            self._call(method, path, verb)
        except (OktaForbidden, OktaNotFound) as error:
            return EnsureResult(Outcome.FAILED, str(error), user, details)

        if self._is_member(user["id"], group_id) != add:
            return EnsureResult(
                Outcome.FAILED,
                f"Okta accepted {verb} but the membership did not change",
                user,
                details,
            )
        return EnsureResult(Outcome.DONE, user=user, details=details)


def mint_access_token(
    http: HttpClient,
    *,
    client_id: str,
    private_key_pem: str,
    key_id: str,
    scopes: str,
    now: float,
) -> tuple[str, float]:
    """Exchange a signed client assertion for an access token at the org server."""
    token_url = f"{http.base_url}/oauth2/v1/token"
    assertion = sign_client_assertion(
        private_key_pem,
        client_id=client_id,
        audience=token_url,
        key_id=key_id,
        now=now,
    )
    response = http.request(
        "POST",
        "/oauth2/v1/token",
        data={
            "grant_type": "client_credentials",
            "scope": scopes,
            "client_assertion_type": (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ),
            "client_assertion": assertion,
        },
        use_auth=False,
    )
    if response.status_code != 200:
        raise _error_from_response(response, "requesting an access token")
    body = response.json()
    logger.info(
        "minted Okta access token vendor=%s expires_in=%s",
        http.label,
        body.get("expires_in"),
    )
    return body["access_token"], float(body.get("expires_in") or 3600)
