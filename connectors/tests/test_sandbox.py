"""The fake Okta checked against Okta's OpenAPI spec, and its demo command."""

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml

from connectors.management.commands.okta_sandbox import (
    CONNECTOR_NAME,
    configure_connector,
)
from connectors.models import Connector
from connectors.okta import OktaClient
from connectors.okta_sandbox import SandboxState, add_sample_directory, stable_id
from connectors.tests.conftest import FakeTime
from exec_site.testing import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = Path("/work/shared/data/okta-openapi/management.yaml")


def openapi_to_json_schema(node: Any) -> Any:
    """Turn OpenAPI 3.0 `nullable` into JSON Schema's null type, recursively."""
    if isinstance(node, list):
        return [openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: openapi_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


@pytest.fixture(scope="module")
def spec() -> dict:
    if not SPEC_PATH.exists():
        pytest.skip("Okta's OpenAPI spec is not present on this machine")
    with SPEC_PATH.open() as handle:
        return yaml.load(handle, Loader=yaml.CSafeLoader)


def validator(spec: dict, name: str) -> jsonschema.Draft7Validator:
    schema = {
        "$ref": f"#/components/schemas/{name}",
        "components": openapi_to_json_schema(spec["components"]),
    }
    return jsonschema.Draft7Validator(schema)


def get(okta_server, path: str, **params) -> requests.Response:
    return requests.get(
        okta_server.base_url + path,
        params=params,
        headers={"Authorization": f"SSWS {okta_server.api_token}"},
        timeout=5,
    )


def test_sandbox_users_follow_spec(spec, okta_server):
    users = get(okta_server, "/api/v1/users", search="status pr").json()
    single = get(okta_server, f"/api/v1/users/{users[0]['id']}").json()
    check = validator(spec, "User")

    assert {u["status"] for u in users} >= {"ACTIVE", "SUSPENDED", "PROVISIONED"}
    for user in [*users, single]:
        errors = list(check.iter_errors(user))
        assert errors == [], (user["profile"]["login"], errors[:1])


def test_sandbox_groups_follow_spec(spec, okta_server):
    groups = get(okta_server, "/api/v1/groups").json()
    check = validator(spec, "Group")

    assert {g["type"] for g in groups} == {"OKTA_GROUP", "APP_GROUP", "BUILT_IN"}
    for group in groups:
        assert list(check.iter_errors(group)) == []


def test_sandbox_errors_follow_spec(spec, okta_server):
    missing = get(okta_server, "/api/v1/users/nobody@example.com")
    check = validator(spec, "Error")

    assert missing.status_code == 404
    assert list(check.iter_errors(missing.json())) == []
    assert missing.json()["errorCode"] == "E0000007"


def test_sandbox_paths_used_by_client_exist_in_spec(spec, okta_server, okta_client):
    jane = okta_client.get_user("jane.doe@example.com")["id"]
    okta_client.suspend(jane)
    okta_client.unsuspend(jane)
    okta_client.clear_sessions(jane)
    okta_client.add_to_group(jane, "SOC Quarantine")
    okta_client.remove_from_group(jane, "SOC Quarantine")
    templates = [
        (method, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"))
        for path, operations in spec["paths"].items()
        for method in operations
    ]

    for request in okta_server.state.requests:
        method = request["method"].lower()
        assert any(
            m == method and pattern.match(request["path"]) for m, pattern in templates
        ), request


def query_parameters(spec: dict, path_item: dict, operation: dict) -> set[str]:
    """Return the query parameter names an operation declares, refs resolved."""
    names = set()
    for parameter in [
        *path_item.get("parameters", []),
        *operation.get("parameters", []),
    ]:
        if "$ref" in parameter:
            parameter = spec["components"]["parameters"][
                parameter["$ref"].split("/")[-1]
            ]
        if parameter.get("in") == "query":
            names.add(parameter["name"])
    return names


def test_sandbox_client_query_parameters_exist_in_spec(spec, okta_server, okta_client):
    jane = okta_client.get_user("jane.doe@example.com")["id"]
    okta_client.list_users(filter='status eq "ACTIVE"', limit=2)
    okta_client.list_users(search='profile.samAccountName eq "jdoe"')
    okta_client.clear_sessions(jane, revoke_oauth_tokens=True)
    okta_client.add_to_group(jane, "SOC Quarantine")
    operations = [
        (method, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), item)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete")
    ]

    for request in okta_server.state.requests:
        declared = next(
            query_parameters(spec, item, item[method])
            for method, pattern, item in operations
            if method == request["method"].lower() and pattern.match(request["path"])
        )
        assert set(request["query"]) <= declared, request


def test_sandbox_every_response_has_rate_limit_headers(okta_server):
    response = get(okta_server, "/api/v1/users")

    assert response.headers["X-Rate-Limit-Limit"]
    assert response.headers["X-Rate-Limit-Remaining"]
    assert response.headers["X-Rate-Limit-Reset"]
    assert response.headers["X-Okta-Request-Id"]
    assert response.headers["Date"]
    assert response.links["self"]["url"].startswith(okta_server.base_url)


def test_sandbox_rejects_unknown_token(okta_server):
    response = requests.get(
        okta_server.base_url + "/api/v1/users",
        headers={"Authorization": "SSWS wrong"},
        timeout=5,
    )

    assert response.status_code == 401
    assert response.json()["errorCode"] == "E0000011"


def test_sandbox_search_lags_writes(okta_server):
    clock = [okta_server.state.now()]
    okta_server.state.clock = lambda: clock[0]
    okta_server.state.search_lag_seconds = 3
    joren = get(okta_server, "/api/v1/users/joren.m@example.com").json()["id"]
    okta_server.state.update_profile(joren, samAccountName="jmaes")

    before = get(
        okta_server, "/api/v1/users", search='profile.samAccountName eq "jmaes"'
    )
    filtered = get(okta_server, "/api/v1/users", filter=f'id eq "{joren}"')
    clock[0] += 3
    after = get(
        okta_server, "/api/v1/users", search='profile.samAccountName eq "jmaes"'
    )

    assert before.json() == []
    assert filtered.json()[0]["profile"]["samAccountName"] == "jmaes"
    assert [u["id"] for u in after.json()] == [joren]


def test_sandbox_lists_hide_deprovisioned_except_search(okta_server):
    listed = get(okta_server, "/api/v1/users").json()
    searched = get(okta_server, "/api/v1/users", search='status eq "DEPROVISIONED"')

    assert "DEPROVISIONED" not in {u["status"] for u in listed}
    assert len(searched.json()) == 1


def test_sandbox_links_follow_state(okta_server):
    active = get(okta_server, "/api/v1/users/jane.doe@example.com").json()
    suspended = get(okta_server, "/api/v1/users/sam.suspended@example.com").json()

    assert "suspend" in active["_links"]
    assert "unsuspend" not in active["_links"]
    assert "unsuspend" in suspended["_links"]


@pytest.mark.django_db
def test_sandbox_configure_creates_then_updates_connector():
    first = configure_connector("http://127.0.0.1:5001", "00token-one")
    second = configure_connector("http://127.0.0.1:5002", "00token-two")

    connector = Connector.objects.get(name=CONNECTOR_NAME)
    assert first.pk == second.pk
    assert connector.is_sandbox
    assert connector.base_url == "http://127.0.0.1:5002"
    assert connector.get_secret() == "00token-two"


def start_command(queue: str, *arguments: str) -> tuple[subprocess.Popen, list[str]]:
    """Start `manage.py okta_sandbox` on the test database; return its lines.

    Reads the output up to "Press Ctrl-C to stop.", or to the end if it exits.
    """
    process = subprocess.Popen(
        [sys.executable, "manage.py", "okta_sandbox", *arguments],
        cwd=ROOT,
        env=subprocess_env(queue),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            break
    return process, lines


def stop_command(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


def get_joren(base_url: str, token: str) -> requests.Response:
    return requests.get(
        f"{base_url}/api/v1/users/joren.m@example.com",
        headers={"Authorization": f"SSWS {token}"},
        timeout=5,
    )


@pytest.mark.django_db(transaction=True)
def test_sandbox_command_prints_url_and_token(private_task_queue):
    process, lines = start_command(private_task_queue, "--port", "0")
    try:
        base_url = lines[1].split()[-1]
        token = lines[2].split()[2]
        answer = get_joren(base_url, token)
    finally:
        stop_command(process)

    assert "It is NOT Okta" in lines[0]
    assert base_url.startswith("http://127.0.0.1:")
    assert answer.json()["profile"]["samAccountName"] == "joren"
    assert lines[-2] == (
        f"Connector {CONNECTOR_NAME!r} does not use this server. To point it here, "
        "stop this one and run: python manage.py okta_sandbox --port "
        f"{base_url.rsplit(':', 1)[1]} --configure"
    )
    assert not Connector.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sandbox_command_restart_keeps_connector(private_task_queue):
    first, first_lines = start_command(private_task_queue, "--port", "0", "--configure")
    stop_command(first)
    connector = Connector.objects.get(name=CONNECTOR_NAME)

    second, second_lines = start_command(private_task_queue)
    try:
        checked = OktaClient.for_connector(connector).check()
        joren = get_joren(connector.base_url, connector.get_secret())
    finally:
        stop_command(second)

    assert "--configure is needed only once" in first_lines[-2]
    assert second_lines[1] == first_lines[1]
    assert second_lines[2] == first_lines[2]
    assert second_lines[-2] == (
        f"Connector {CONNECTOR_NAME!r} (id {connector.pk}) already uses this URL "
        "and token."
    )
    assert checked.startswith(f"connected to {connector.base_url}")
    assert joren.json()["id"] == stable_id("00u", "joren.m@example.com")


@pytest.mark.django_db(transaction=True)
def test_sandbox_command_accepts_given_token(private_task_queue):
    process, lines = start_command(
        private_task_queue, "--port", "0", "--token", "00given-token"
    )
    try:
        base_url = lines[1].split()[-1]
        accepted = get_joren(base_url, "00given-token")
        rejected = get_joren(base_url, "00other-token")
    finally:
        stop_command(process)

    assert lines[2].split()[2] == "00given-token"
    assert accepted.status_code == 200
    assert rejected.status_code == 401


def test_sandbox_sample_ids_same_on_every_start():
    first, second = SandboxState(), SandboxState()
    add_sample_directory(first)
    add_sample_directory(second)

    assert sorted(first.users) == sorted(second.users)
    assert len(first.users) == 14
    for user_id in first.users:
        assert re.fullmatch(r"00u[0-9A-Za-z]{17}", user_id)


def test_sandbox_state_ids_have_okta_shape():
    state = SandboxState()
    user = state.add_user("a.b@example.com", "A", "B")
    group = state.add_group("G")

    assert re.fullmatch(r"00u[0-9A-Za-z]{17}", user.id)
    assert re.fullmatch(r"00g[0-9A-Za-z]{17}", group.id)


def test_sandbox_bucket_budget_counts_down_and_resets(okta_server):
    start = time.time()
    clock = FakeTime(start)
    okta_server.state.clock = clock
    okta_server.state.rate_limits["GET /api/v1/groups"] = 2

    first = get(okta_server, "/api/v1/groups")
    second = get(okta_server, "/api/v1/groups")
    spent = get(okta_server, "/api/v1/groups")
    users = get(okta_server, "/api/v1/users")
    clock.sleep(int(spent.headers["X-Rate-Limit-Reset"]) - clock() + 1)
    renewed = get(okta_server, "/api/v1/groups")

    assert [first.status_code, second.status_code] == [200, 200]
    assert first.headers["X-Rate-Limit-Limit"] == "2"
    assert first.headers["X-Rate-Limit-Remaining"] == "1"
    assert second.headers["X-Rate-Limit-Remaining"] == "0"
    assert spent.status_code == 429
    assert spent.json()["errorCode"] == "E0000047"
    assert spent.headers["X-Rate-Limit-Remaining"] == "0"
    assert spent.headers["X-Rate-Limit-Reset"] == str(int(start + 60))
    assert users.status_code == 200
    assert users.headers["X-Rate-Limit-Limit"] == "600"
    assert users.headers["X-Rate-Limit-Remaining"] == "599"
    assert renewed.status_code == 200
    assert renewed.headers["X-Rate-Limit-Remaining"] == "1"
