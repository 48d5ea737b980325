"""The HTTP client: URL checks, error sorting and TLS verification."""

import datetime
import ipaddress
import json
import ssl

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.cli import main
from agent.client import (
    RequestRejected,
    ServerClient,
    ServerUnavailable,
    check_server_url,
    server_message,
)
from agent.tests.conftest import AGENT_TOKEN
from agent.tests.fake_server import GOOD_ENROLLMENT_TOKEN, FakeExecServer


def write_self_signed(directory):
    """Write a certificate for 127.0.0.1 and its key; return both paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exec test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path = directory / "server.pem"
    key_path = directory / "server.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


@pytest.fixture
def tls_server(tmp_path):
    certificate, key = write_self_signed(tmp_path)
    server = FakeExecServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.state.agent_tokens.add(AGENT_TOKEN)
    server.start()
    yield server, certificate
    server.stop()


def https_url(server):
    return f"https://127.0.0.1:{server.server_address[1]}"


def test_client_rejects_unknown_certificate(tls_server):
    server, _ = tls_server
    client = ServerClient(https_url(server), token=AGENT_TOKEN, timeout=(2, 5))

    with pytest.raises(ServerUnavailable, match="TLS verification"):
        client.checkin({"event": None})

    assert server.state.checkins() == []


def test_client_trusts_given_ca_bundle(tls_server):
    server, certificate = tls_server
    client = ServerClient(
        https_url(server), token=AGENT_TOKEN, ca_bundle=str(certificate), timeout=(2, 5)
    )

    answer = client.checkin({"event": None})

    assert answer["tasks"] == []
    assert len(server.state.checkins()) == 1


def test_check_server_url_rules():
    assert check_server_url("https://exec.example.com/") == "https://exec.example.com"
    assert check_server_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert check_server_url("http://localhost:8000") == "http://localhost:8000"
    with pytest.raises(ValueError, match="plain HTTP"):
        check_server_url("http://exec.example.com")
    with pytest.raises(ValueError, match="invalid server URL"):
        check_server_url("ftp://127.0.0.1")
    with pytest.raises(ValueError, match="invalid server URL"):
        check_server_url("exec.example.com")


def make_response(status, body):
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.url = "http://127.0.0.1/api/v1/agent/checkin"
    return response


def test_server_message_formats_errors():
    detail = make_response(403, '{"detail": "Enrollment token revoked."}')
    fields = make_response(
        400, '{"hostname": ["This field is required."], "os": ["x"]}'
    )
    text = make_response(413, "Request body too large")

    assert server_message(detail) == "Enrollment token revoked."
    assert server_message(fields) == "hostname: This field is required.; os: x"
    assert server_message(text) == "Request body too large"


def test_client_sorts_statuses(fake_server):
    client = ServerClient(fake_server.url, token=AGENT_TOKEN, timeout=(2, 5))

    with pytest.raises(RequestRejected) as rejected:
        client.post_result(999, "running")
    fake_server.state.failing_checkins = 1
    with pytest.raises(ServerUnavailable) as unavailable:
        client.checkin({"event": None})

    assert rejected.value.status == 404
    assert unavailable.value.status == 503


def test_enroll_with_ca_bundle_then_checkin(tls_server, tmp_path, monkeypatch):
    server, certificate = tls_server
    config = tmp_path / "agent.json"
    monkeypatch.chdir(certificate.parent)

    enrolled = main(
        [
            "enroll",
            "--server",
            https_url(server),
            "--token",
            GOOD_ENROLLMENT_TOKEN,
            "--ca-bundle",
            certificate.name,
            "--config",
            str(config),
        ]
    )
    checked_in = main(["once", "--config", str(config)])

    assert enrolled == 0
    assert json.loads(config.read_text())["ca_bundle"] == str(certificate.resolve())
    assert checked_in == 0
    assert len(server.state.checkins()) == 1
