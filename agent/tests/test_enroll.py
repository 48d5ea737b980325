"""`python -m agent enroll` against the fake server."""

import json
import stat
import sys

from agent import __version__
from agent.cli import main
from agent.tests.fake_server import EXPIRED_ENROLLMENT_TOKEN, GOOD_ENROLLMENT_TOKEN

REQUIRED = ("hostname", "platform", "os_name", "os_version", "machine_id")


def enroll(server_url, config, token=GOOD_ENROLLMENT_TOKEN, *extra):
    arguments = ["enroll", "--server", server_url, "--token", token]
    return main([*arguments, "--config", str(config), *extra])


def test_enroll_writes_owner_only_config(fake_server, tmp_path, capsys):
    path = tmp_path / "etc" / "agent.json"

    code = enroll(fake_server.url, path)

    assert code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["endpoint_id"] == 7
    assert stored["agent_token"] in fake_server.state.agent_tokens
    assert stored["server_url"] == fake_server.url
    assert stored["checkin_interval"] == 60
    assert stored["ca_bundle"] is None
    assert "enrolled as endpoint 7" in capsys.readouterr().out


def test_enroll_sends_protocol_fields(fake_server, tmp_path):
    enroll(fake_server.url, tmp_path / "agent.json")

    (request,) = fake_server.state.requests
    assert request.path == "/api/v1/agent/enroll"
    assert request.status == 201
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    body = request.body
    assert body["enrollment_token"] == GOOD_ENROLLMENT_TOKEN
    assert body["agent_version"] == __version__
    assert body["platform"] == {"linux": "linux", "darwin": "macos"}.get(
        sys.platform, "windows"
    )
    for name in REQUIRED:
        assert body[name], name
    assert isinstance(body["ip_addresses"], list)
    assert isinstance(body["mac_addresses"], list)
    assert fake_server.state.problems == []


def test_enroll_403_shows_server_message(fake_server, tmp_path, capsys):
    path = tmp_path / "agent.json"

    code = enroll(fake_server.url, path, EXPIRED_ENROLLMENT_TOKEN)

    assert code == 1
    assert not path.exists()
    error = capsys.readouterr().err
    assert "refused the enrollment token" in error
    assert "expired at 2026-12-01T10:00:00Z; create a new one." in error


def test_enroll_400_names_the_field(fake_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("agent.facts.socket.gethostname", lambda: "")
    path = tmp_path / "agent.json"

    code = enroll(fake_server.url, path)

    assert code == 1
    assert not path.exists()
    assert "hostname: This field is required." in capsys.readouterr().err


def test_enroll_keeps_existing_config(fake_server, tmp_path, capsys):
    path = tmp_path / "agent.json"
    path.write_text("{}")

    code = enroll(fake_server.url, path)

    assert code == 1
    assert path.read_text() == "{}"
    assert "--force" in capsys.readouterr().err
    assert fake_server.state.requests == []


def test_enroll_force_replaces_config(fake_server, tmp_path):
    path = tmp_path / "agent.json"
    path.write_text("{}")

    code = enroll(fake_server.url, path, GOOD_ENROLLMENT_TOKEN, "--force")

    assert code == 0
    assert json.loads(path.read_text())["endpoint_id"] == 7


def test_enroll_rejects_plain_http_off_loopback(tmp_path, capsys):
    code = enroll("http://exec.invalid", tmp_path / "agent.json")

    assert code == 1
    assert "plain HTTP" in capsys.readouterr().err


def test_enroll_rejects_missing_ca_bundle(fake_server, tmp_path, capsys):
    missing = tmp_path / "absent.pem"

    code = enroll(
        fake_server.url,
        tmp_path / "agent.json",
        GOOD_ENROLLMENT_TOKEN,
        "--ca-bundle",
        str(missing),
    )

    assert code == 1
    assert str(missing) in capsys.readouterr().err
    assert fake_server.state.requests == []


def test_enroll_unreachable_server(tmp_path, capsys, unused_port):
    code = enroll(f"http://127.0.0.1:{unused_port}", tmp_path / "agent.json")

    assert code == 1
    assert "unreachable" in capsys.readouterr().err
