"""run_local_agent enrolls again only when the saved configuration is not valid."""

import json

import pytest

from endpoints.models import Endpoint, hash_token
from exec_site.management.commands.run_local_agent import enrolled_endpoint

pytestmark = pytest.mark.django_db

SERVER = "http://127.0.0.1:8000"


@pytest.fixture
def endpoint():
    return Endpoint.objects.create(
        hostname="here",
        platform="linux",
        source_id="agent-1",
        agent_token_hash=hash_token("agt_secret"),
    )


def write_config(tmp_path, **values):
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(values))
    return path


def test_enrolled_endpoint_valid(tmp_path, endpoint):
    path = write_config(
        tmp_path,
        server_url=SERVER + "/",
        endpoint_id=endpoint.pk,
        agent_token="agt_secret",
    )

    assert enrolled_endpoint(path, SERVER) == endpoint


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"server_url": "http://127.0.0.1:9000"}, "other server"),
        ({"endpoint_id": 999}, "unknown endpoint"),
        ({"agent_token": "agt_other"}, "other token"),
        ({"endpoint_id": "x"}, "malformed"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_enrolled_endpoint_invalid(tmp_path, endpoint, change, reason):
    values = {
        "server_url": SERVER,
        "endpoint_id": endpoint.pk,
        "agent_token": "agt_secret",
    }
    path = write_config(tmp_path, **(values | change))

    assert enrolled_endpoint(path, SERVER) is None, reason


def test_enrolled_endpoint_uninstalled(tmp_path, endpoint):
    endpoint.status = "uninstalled"
    endpoint.save()
    path = write_config(
        tmp_path, server_url=SERVER, endpoint_id=endpoint.pk, agent_token="agt_secret"
    )

    assert enrolled_endpoint(path, SERVER) is None


def test_enrolled_endpoint_missing_file(tmp_path):
    assert enrolled_endpoint(tmp_path / "agent.json", SERVER) is None
