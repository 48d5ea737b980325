"""A fake Exec server on 127.0.0.1 that follows the agent API contract.

It checks every request as the real server would (method, path, headers, body
types) and records what arrived, so tests can assert on what the agent sent.
"""

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ENROLL_REQUIRED = (
    "enrollment_token",
    "hostname",
    "platform",
    "os_name",
    "os_version",
    "agent_version",
    "machine_id",
)
PLATFORMS = ("windows", "macos", "linux")
CHECKIN_FIELDS = {
    "agent_version": str,
    "hostname": str,
    "os_version": str,
    "ip_addresses": list,
    "mac_addresses": list,
    "users": list,
}
EVENTS = (None, "shutdown", "suspended", "uninstalled")
REPORTABLE = ("running", "succeeded", "failed")
FINAL = ("succeeded", "failed", "expired", "cancelled")
GOOD_ENROLLMENT_TOKEN = "enr_good_0123456789abcdef"
EXPIRED_ENROLLMENT_TOKEN = "enr_expired_0123456789"


@dataclass
class Received:
    """One request the fake server accepted or rejected."""

    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class ServerState:
    endpoint_id: int = 7
    checkin_interval: int = 60
    agent_tokens: set[str] = field(default_factory=set)
    queued: list[dict[str, Any]] = field(default_factory=list)
    task_status: dict[int, str] = field(default_factory=dict)
    results: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    uploads: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    # Respond to this many of the next check-ins with 503.
    failing_checkins: int = 0
    problems: list[str] = field(default_factory=list)

    def checkins(self) -> list[dict[str, Any]]:
        return [
            request.body
            for request in self.requests
            if request.path.endswith("/checkin") and request.status == 200
        ]


class Handler(BaseHTTPRequestHandler):
    server: "FakeExecServer"

    def log_message(self, format: str, *args: Any) -> None:
        # The tests read `state`; the default log would clutter their output.
        pass

    def do_GET(self) -> None:
        self.answer(405, {"detail": "Method not allowed."})

    def do_POST(self) -> None:
        with self.server.lock:
            self.route()

    def route(self) -> None:
        path = self.path
        prefix = "/api/v1/agent/"
        if not path.startswith(prefix):
            return self.answer(404, {"detail": "Not found."})
        rest = path[len(prefix) :]
        if rest == "enroll":
            return self.enroll()
        if rest == "checkin":
            return self.checkin()
        parts = rest.split("/")
        if len(parts) == 3 and parts[0] == "tasks" and parts[1].isdigit():
            if parts[2] == "result":
                return self.result(int(parts[1]))
            if parts[2] == "upload":
                return self.upload(int(parts[1]))
        return self.answer(404, {"detail": "Not found."})

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def read_json(self) -> Any:
        if self.headers.get("Content-Type") != "application/json":
            self.server.state.problems.append(
                f"{self.path}: Content-Type {self.headers.get('Content-Type')}"
            )
            return None
        try:
            return json.loads(self.read_body().decode("utf-8"))
        except ValueError:
            return None

    def record(self, body: Any, status: int) -> None:
        self.server.state.requests.append(
            Received(self.path, dict(self.headers.items()), body, status)
        )

    def answer(self, status: int, body: dict[str, Any], request: Any = None) -> None:
        self.record(request, status)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authenticated(self) -> bool:
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        return header.startswith("Bearer ") and token in self.server.state.agent_tokens

    def enroll(self) -> None:
        state = self.server.state
        body = self.read_json()
        if "Authorization" in self.headers:
            state.problems.append("enroll sent an Authorization header")
        if not isinstance(body, dict):
            return self.answer(400, {"detail": "Malformed JSON."}, body)
        errors = {
            name: ["This field is required."]
            for name in ENROLL_REQUIRED
            if not isinstance(body.get(name), str) or not body.get(name)
        }
        if body.get("platform") and body.get("platform") not in PLATFORMS:
            errors["platform"] = [f'"{body["platform"]}" is not a valid choice.']
        if errors:
            return self.answer(400, errors, body)
        if body["enrollment_token"] == EXPIRED_ENROLLMENT_TOKEN:
            detail = (
                "Enrollment token expired at 2026-12-01T10:00:00Z; create a new one."
            )
            return self.answer(403, {"detail": detail}, body)
        if body["enrollment_token"] != GOOD_ENROLLMENT_TOKEN:
            return self.answer(403, {"detail": "Unknown enrollment token."}, body)

        token = f"agt_{secrets.token_urlsafe(24)}"
        state.agent_tokens.add(token)
        answer = {
            "endpoint_id": state.endpoint_id,
            "agent_token": token,
            "checkin_interval": state.checkin_interval,
        }
        self.answer(201, answer, body)

    def checkin(self) -> None:
        state = self.server.state
        if not self.authenticated():
            self.read_body()
            return self.answer(401, {"detail": "Authentication failed."})
        body = self.read_json()
        if not isinstance(body, dict):
            return self.answer(400, {"detail": "Malformed JSON."}, body)
        for name, expected in CHECKIN_FIELDS.items():
            if name in body and not isinstance(body[name], expected):
                return self.answer(400, {name: ["Wrong type."]}, body)
        if body.get("event") not in EVENTS:
            return self.answer(400, {"event": ["Not a valid choice."]}, body)
        for user in body.get("users", []):
            if not isinstance(user.get("username"), str) or not isinstance(
                user.get("logged_in"), bool
            ):
                return self.answer(400, {"users": ["Bad user entry."]}, body)
        if state.failing_checkins:
            state.failing_checkins -= 1
            return self.answer(503, {"detail": "Service unavailable."}, body)

        tasks = state.queued
        state.queued = []
        for task in tasks:
            state.task_status[task["id"]] = "sent"
        answer = {"checkin_interval": state.checkin_interval, "tasks": tasks}
        self.answer(200, answer, body)

    def result(self, task_id: int) -> None:
        state = self.server.state
        if not self.authenticated():
            self.read_body()
            return self.answer(401, {"detail": "Authentication failed."})
        body = self.read_json()
        if task_id not in state.task_status:
            return self.answer(404, {"detail": "Not found."}, body)
        if state.task_status[task_id] in FINAL:
            return self.answer(409, {"detail": "Task is final."}, body)
        if (
            not isinstance(body, dict)
            or body.get("status") not in REPORTABLE
            or not isinstance(body.get("result"), dict | None)
            or not isinstance(body.get("error", ""), str)
        ):
            return self.answer(400, {"status": ["Invalid result."]}, body)
        state.task_status[task_id] = body["status"]
        state.results.append((task_id, body))
        self.answer(200, {"id": task_id, "status": body["status"]}, body)

    def upload(self, task_id: int) -> None:
        state = self.server.state
        data = self.read_body()
        if not self.authenticated():
            return self.answer(401, {"detail": "Authentication failed."})
        if task_id not in state.task_status:
            return self.answer(404, {"detail": "Not found."})
        digest = hashlib.sha256(data).hexdigest()
        if self.headers.get("X-Content-SHA256") != digest:
            return self.answer(400, {"detail": "SHA-256 mismatch."})
        state.uploads.append((task_id, data, dict(self.headers.items())))
        self.answer(201, {"id": 1, "sha256": digest, "size": len(data)})


class FakeExecServer(ThreadingHTTPServer):
    """The fake server; `state` contains its data and the requests it received."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = ServerState()
        self.lock = threading.Lock()
        self.thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "FakeExecServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)

    def queue_task(self, task_id: int, task_type: str, **parameters: Any) -> None:
        with self.lock:
            self.state.queued.append(
                {
                    "id": task_id,
                    "type": task_type,
                    "parameters": parameters,
                    "expires": "2026-12-04T18:00:00Z",
                }
            )
            self.state.task_status[task_id] = "queued"
