"""The Okta client as an OAuth 2.0 service app, with cached access tokens."""

import base64
import json
import threading

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.choices import ConnectorKind, OktaAuthType, Outcome
from connectors.http import TokenCache
from connectors.models import Connector
from connectors.okta import OktaAuthError, OktaClient, sign_client_assertion
from connectors.okta_sandbox import public_key_pem

ALL_SCOPES = "okta.users.read okta.users.manage okta.groups.read okta.groups.manage"


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def clock(okta_server):
    fake = FakeClock(okta_server.state.now())
    okta_server.state.clock = fake
    return fake


@pytest.fixture
def service_app(okta_server, rsa_private_key_pem):
    def make(granted: str = ALL_SCOPES, requested: str = ALL_SCOPES) -> Connector:
        client_id = okta_server.state.add_oauth_client(
            public_key_pem(rsa_private_key_pem), granted
        )
        connector = Connector(
            pk=7,
            kind=ConnectorKind.OKTA,
            name="Okta OAuth",
            base_url=okta_server.base_url,
            okta_auth_type=OktaAuthType.OAUTH,
            client_id=client_id,
            key_id="key-1",
            scopes=requested,
        )
        connector.set_secret(rsa_private_key_pem)
        return connector

    return make


def oauth_client(connector, clock, cache=None) -> OktaClient:
    cache = cache or TokenCache(clock=clock, margin=lambda: 60)
    return OktaClient.for_connector(
        connector, clock=clock, token_cache=cache, sleep=lambda s: None
    )


def token_requests(okta_server) -> list[dict]:
    return [r for r in okta_server.state.requests if r["path"] == "/oauth2/v1/token"]


def statuses(okta_server, status: int) -> list[dict]:
    return [r for r in okta_server.state.requests if r["status"] == status]


def test_oauth_assertion_claims_and_signature(rsa_private_key_pem):
    assertion = sign_client_assertion(
        rsa_private_key_pem,
        client_id="0oaclient",
        audience="http://127.0.0.1:1/oauth2/v1/token",
        key_id="key-1",
        now=1_000_000,
    )
    header_b64, claims_b64, signature_b64 = assertion.split(".")
    header = json.loads(b64decode(header_b64))
    claims = json.loads(b64decode(claims_b64))
    private_key = serialization.load_pem_private_key(
        rsa_private_key_pem.encode(), password=None
    )
    public_key = private_key.public_key()

    public_key.verify(
        b64decode(signature_b64),
        f"{header_b64}.{claims_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    assert claims["iss"] == claims["sub"] == "0oaclient"
    assert claims["aud"] == "http://127.0.0.1:1/oauth2/v1/token"
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert claims["jti"]


def test_oauth_token_is_reused(okta_server, service_app, clock):
    client = oauth_client(service_app(), clock)

    client.list_users()
    client.list_users()

    assert len(token_requests(okta_server)) == 1


def test_oauth_token_renewed_before_expiry(okta_server, service_app, clock):
    okta_server.state.token_lifetime = 5
    client = oauth_client(service_app(), clock)

    client.list_users()
    clock.now += 3  # past half of a 5 s life, before the server's expiry
    client.list_users()
    clock.now += 3
    client.list_users()

    assert len(token_requests(okta_server)) == 3
    assert statuses(okta_server, 401) == []


def test_oauth_renewal_margin_for_long_token(okta_server, service_app, clock):
    client = oauth_client(service_app(), clock)

    client.list_users()
    clock.now += 3600 - 61  # 61 s left: still used
    client.list_users()
    clock.now += 2  # 59 s left: renewed
    client.list_users()

    assert len(token_requests(okta_server)) == 2


def test_oauth_remints_once_on_unexpected_401(okta_server, service_app, clock):
    client = oauth_client(service_app(), clock)
    client.list_users()
    okta_server.state.issued.clear()  # the org revoked our token

    users = client.list_users()

    assert users
    assert len(token_requests(okta_server)) == 2
    assert len(statuses(okta_server, 401)) == 1


def test_oauth_does_not_loop_on_401(okta_server, service_app, clock):
    okta_server.state.token_lifetime = 0  # every token is dead on arrival
    client = oauth_client(service_app(), clock)

    with pytest.raises(OktaAuthError):
        client.list_users()

    assert len(token_requests(okta_server)) == 2
    assert len(statuses(okta_server, 401)) == 2


def test_oauth_missing_scope_reported_without_remint(okta_server, service_app, clock):
    granted = "okta.users.read okta.users.manage okta.groups.read"
    client = oauth_client(service_app(granted, granted), clock)
    jane = next(
        u.id
        for u in okta_server.state.users.values()
        if u.profile["login"] == "jane.doe@example.com"
    )

    result = client.add_to_group(jane, "SOC Quarantine")

    assert result.outcome == Outcome.FAILED
    assert "missing scope okta.groups.manage" in result.reason
    assert len(token_requests(okta_server)) == 1
    assert len(statuses(okta_server, 403)) == 1


def test_oauth_wrong_key_rejected(okta_server, service_app, clock):
    connector = service_app()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    connector.set_secret(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )

    with pytest.raises(OktaAuthError, match="invalid_client"):
        oauth_client(connector, clock).list_users()


def test_oauth_one_mint_for_concurrent_workers(okta_server, service_app, clock):
    connector = service_app()
    cache = TokenCache(clock=clock, margin=lambda: 60)
    clients = [oauth_client(connector, clock, cache) for _ in range(6)]
    errors = []

    def work(client):
        try:
            client.list_users()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    assert len(token_requests(okta_server)) == 1
