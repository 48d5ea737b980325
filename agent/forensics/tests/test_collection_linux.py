"""A real collection of every artifact on this Linux machine."""

import os
import socket
import sys
import zipfile
from collections.abc import Iterator

import pytest

from agent.forensics.collect import artifact_names, collect_package
from agent.forensics.model import ERROR, OK, PARTIAL, TIMEOUT
from agent.forensics.package import verify_package

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="collects Linux sources"
)

# Sources every Linux machine has, this one included.
MUST_HAVE_ROWS = (
    "network.interfaces",
    "network.routes",
    "network.mounts",
    "network.connections",
    "network.listening_ports",
    "users.users",
    "users.groups",
    "system.os_version",
    "system.uptime",
    "system.time",
)


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    accepted, _address = server.accept()
    yield server
    for sock in (accepted, client, server):
        sock.close()


@pytest.fixture(scope="module")
def collection(
    listener: socket.socket, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    output = tmp_path_factory.mktemp("collection") / "package.zip"
    package = collect_package(output)
    return {
        "package": package,
        "results": {entry["name"]: entry for entry in package.manifest["artifacts"]},
    }


def test_collection_every_artifact_reported(collection: dict) -> None:
    assert sorted(collection["results"]) == sorted(artifact_names())
    for name, entry in collection["results"].items():
        assert entry["status"] not in (ERROR, TIMEOUT), (name, entry["error"])
        if entry["row_count"] == 0:
            assert entry["reason"], name


@pytest.mark.parametrize("name", MUST_HAVE_ROWS)
def test_collection_artifact_has_rows(collection: dict, name: str) -> None:
    entry = collection["results"][name]
    assert entry["status"] in (OK, PARTIAL)
    assert entry["row_count"] > 0


def read_rows(collection: dict, name: str) -> list[dict]:
    import json

    with zipfile.ZipFile(collection["package"].path) as archive:
        return json.loads(archive.read(f"artifacts/{name}.json"))["rows"]


def test_collection_finds_test_listener_with_pid(
    collection: dict, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    rows = [
        r for r in read_rows(collection, "network.listening_ports") if r["port"] == port
    ]
    assert len(rows) == 1
    assert rows[0]["pid"] == os.getpid()
    assert rows[0]["address"] == "127.0.0.1"
    assert rows[0]["protocol"] == "tcp"
    assert rows[0]["pid_resolution"] == "resolved"


def test_collection_finds_test_connection(
    collection: dict, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    rows = [
        r
        for r in read_rows(collection, "network.connections")
        if r["remote_port"] == port and r["state"] == "ESTABLISHED"
    ]
    assert len(rows) == 1
    assert rows[0]["pid"] == os.getpid()
    assert rows[0]["name"]


def test_collection_users_include_root(collection: dict) -> None:
    users = read_rows(collection, "users.users")
    assert {"username": "root", "uid": 0} in [
        {"username": u["username"], "uid": u["uid"]} for u in users
    ]


def test_collection_package_verifies(collection: dict) -> None:
    assert verify_package(collection["package"].path) == []


def test_collection_kernel_modules_reason(collection: dict) -> None:
    entry = collection["results"]["software.kernel_modules"]
    if not os.path.exists("/proc/modules"):
        assert entry["status"] == "unsupported"
        assert entry["reason"] == "/proc/modules not present"
    else:
        assert entry["row_count"] > 0
