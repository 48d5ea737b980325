"""HTTP calls to the Exec server's agent API, with one exception class per cause."""

import hashlib
import ipaddress
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from agent import __version__

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1/agent"
# (connect, read) seconds. Uploads may take longer to be read and stored.
DEFAULT_TIMEOUT = (10.0, 30.0)
UPLOAD_TIMEOUT = (10.0, 300.0)
# Reports sent while the agent stops or the system goes down must not wait long.
STOP_TIMEOUT = (3.0, 5.0)
UPLOAD_CHUNK = 1024 * 1024


class ServerError(Exception):
    """A request to the server did not succeed."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerUnavailable(ServerError):
    """The server could not be reached, timed out or returned a 5xx status."""


class AuthenticationFailed(ServerError):
    """401: the agent token is revoked or the endpoint uninstalled or retired."""


class RequestRejected(ServerError):
    """A 4xx response other than 401; the message is the server's."""


def check_server_url(url: str) -> str:
    """Return `url` without a trailing slash, or raise ValueError.

    Plain HTTP would expose the agent token, so it is accepted only for a
    server on the loopback interface.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"invalid server URL {url!r}; give it as https://host[:port]")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"server URL {url!r} uses plain HTTP, which would expose the agent "
            "token; use https:// (plain HTTP is accepted for 127.0.0.1 only)"
        )
    return url.rstrip("/")


def is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def server_message(response: requests.Response) -> str:
    """Return the server's explanation from an error body, in one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        parts = []
        for field, problems in body.items():
            if isinstance(problems, list):
                problems = " ".join(str(problem) for problem in problems)
            parts.append(f"{field}: {problems}")
        return "; ".join(parts)
    return str(body)


class ServerClient:
    """The agent API of one Exec server, for one agent token (or none)."""

    def __init__(
        self,
        server_url: str,
        token: str | None = None,
        ca_bundle: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = check_server_url(server_url)
        self.timeout = timeout
        self.session = requests.Session()
        # A CA bundle replaces the system's trust store; without one the
        # system's store (or REQUESTS_CA_BUNDLE) verifies the server.
        # Verification is never turned off.
        self.verify: str | bool = ca_bundle or True
        self.session.headers["User-Agent"] = f"exec-agent/{__version__}"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def enroll(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post_json("/enroll", body)

    def checkin(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post_json("/checkin", body)

    def post_result(
        self,
        task_id: int,
        status: str,
        result: dict[str, Any] | None = None,
        error: str = "",
    ) -> dict[str, Any]:
        body = {"status": status, "result": result, "error": error}
        return self.post_json(f"/tasks/{task_id}/result", body)

    def upload(self, task_id: int, path: Path, kind: str) -> dict[str, Any]:
        """Stream the zip file at `path` to the server for task `task_id`."""
        headers = {
            "Content-Type": "application/zip",
            "X-Content-SHA256": file_sha256(path),
            "X-Upload-Kind": kind,
        }
        # A file object is streamed with a Content-Length header; servers that
        # run under plain WSGI cannot read a chunked request body.
        with path.open("rb") as handle:
            return self.send(
                f"/tasks/{task_id}/upload",
                data=handle,
                headers=headers,
                timeout=UPLOAD_TIMEOUT,
            )

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.send(path, json=body, timeout=self.timeout)

    def send(self, path: str, **options: Any) -> dict[str, Any]:
        url = f"{self.base_url}{API_PREFIX}{path}"
        try:
            # Passed on each request because requests lets REQUESTS_CA_BUNDLE
            # override a session-wide `verify`, and the bundle must win.
            response = self.session.post(url, verify=self.verify, **options)
        except requests.exceptions.SSLError as error:
            raise ServerUnavailable(
                f"TLS verification of {self.base_url} failed: {error}; check "
                "the server's certificate or the --ca-bundle file"
            ) from None
        except requests.RequestException as error:
            raise ServerUnavailable(
                f"{self.base_url} is unreachable: {type(error).__name__}: {error}"
            ) from None
        return self.parse(response)

    def parse(self, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        if status >= 500:
            raise ServerUnavailable(
                f"server error {status} from {response.url}", status
            )
        if status == 401:
            raise AuthenticationFailed(server_message(response), status)
        if status >= 400:
            raise RequestRejected(server_message(response), status)
        try:
            body = response.json()
        except ValueError:
            raise ServerUnavailable(
                f"response {status} from {response.url} is not JSON", status
            ) from None
        if not isinstance(body, dict):
            raise ServerUnavailable(
                f"response {status} from {response.url} is not a JSON object", status
            )
        return body


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(UPLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
