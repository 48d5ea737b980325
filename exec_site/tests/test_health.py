import socket

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf

from exec_site import health
from exec_site.testing import wait_until

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_ok(client):
    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["database"]["vendor"] == connection.vendor
    assert body["broker"]["status"] == "ok"
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_warns_without_cluster(client):
    body = client.get("/healthz").json()

    assert body["status"] == "ok"
    assert body["broker"]["clusters"] == 0
    assert body["warnings"] == [
        "no task cluster is running; start `manage.py qcluster`"
    ]


def test_healthz_database_down(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 refused")

    monkeypatch.setattr(health.connection, "cursor", refuse)

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["failing"][0] == "database"
    assert "refused" in body["database"]["error"]
    # With the ORM broker the queue lives in the same database.
    broker_down = settings.Q_CLUSTER.get("orm") is not None
    assert ("broker" in body["failing"]) is broker_down


def test_healthz_broker_down(client, monkeypatch):
    monkeypatch.setattr(Conf, "REDIS", f"redis://127.0.0.1:{closed_port()}/0")
    monkeypatch.setattr(health, "get_broker", lambda: Redis(list_key="healthz-test"))

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["broker"]
    assert body["broker"]["status"] == "error"
    assert body["database"]["status"] == "ok"


def test_healthz_rejects_post(client):
    assert client.post("/healthz").status_code == 405


def test_healthz_counts_running_cluster(client, task_cluster):
    def cluster_seen():
        body = client.get("/healthz").json()
        # A cluster reports itself before its workers have started.
        broker = body["broker"]
        return body if broker["clusters"] >= 1 and broker["workers"] >= 1 else None

    body = wait_until(cluster_seen, timeout=60, interval=0.5)

    assert body["status"] == "ok"
    assert body["broker"]["workers"] >= 1
    assert "warnings" not in body
