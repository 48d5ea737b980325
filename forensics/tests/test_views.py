import json
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from forensics import actions
from forensics.models import CollectedFile, ForensicsPackage, PackageArtifact
from forensics.tests.builders import (
    artifact,
    collected_file_bytes,
    eicar,
    package_bytes,
    sha256,
)

pytestmark = pytest.mark.django_db

PROCESSES = [
    {"pid": 1, "name": "systemd", "cmdline": "/sbin/init"},
    {"pid": 10, "name": "sshd", "cmdline": "sshd: alice [priv]"},
    {"pid": 9, "name": "bash", "cmdline": "-bash"},
    {"pid": 200, "name": "python3", "cmdline": "python3 -m http.server"},
    {"pid": None, "name": "kworker", "cmdline": None},
]


def store_package(endpoint, tmp_path: Path, body: bytes) -> ForensicsPackage:
    path = tmp_path / f"{sha256(body)}.zip"
    path.write_bytes(body)
    package, _ = actions.receive_package(
        path, sha256(body), len(body), endpoint=endpoint
    )
    return package


def unique_package(number: int, artifacts=None) -> bytes:
    def renumber(manifest):
        manifest["package_id"] = f"package-{number}"

    return package_bytes(artifacts, edit_manifest=renumber)


@pytest.fixture
def package(endpoint, tmp_path) -> ForensicsPackage:
    artifacts = [
        artifact("system.processes", PROCESSES),
        artifact("users.login_history", status="timeout", error="gave up after 120 s"),
    ]
    return store_package(endpoint, tmp_path, unique_package(1, artifacts))


@pytest.fixture
def processes(package) -> PackageArtifact:
    return package.artifacts.get(name="system.processes")


@pytest.fixture
def collected(endpoint, tmp_path) -> CollectedFile:
    body = collected_file_bytes(eicar())
    path = tmp_path / "ioc.zip"
    path.write_bytes(body)
    collected, _ = actions.receive_collected_file(
        path, sha256(body), len(body), endpoint=endpoint
    )
    return collected


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def page_urls(package, processes, collected) -> list[str]:
    base = f"/forensics/packages/{package.pk}"
    return [
        "/forensics/packages/",
        f"{base}/",
        f"{base}/download",
        f"{base}/artifacts/{processes.pk}/",
        f"{base}/artifacts/{processes.pk}/download.csv",
        f"{base}/artifacts/{processes.pk}/download.json",
        "/forensics/files/",
        f"/forensics/files/{collected.pk}/download",
    ]


def test_pages_permission_matrix(
    package, processes, collected, responder, auditor, outsider
):
    for url in page_urls(package, processes, collected):
        assert client_for(responder).get(url).status_code == 200, url
        assert client_for(auditor).get(url).status_code == 200, url
        assert client_for(outsider).get(url).status_code == 403, url

        anonymous = client_for(None).get(url)
        assert anonymous.status_code == 302, url
        assert anonymous["Location"].startswith("/admin/login/?next="), url


def test_package_list_shows_packages(package, responder):
    response = client_for(responder).get("/forensics/packages/")

    assert response.status_code == 200
    assert f'href="/forensics/packages/{package.pk}/"' in response.text
    assert "web01" in response.text
    row = response.context["page"][0]
    assert row.artifact_count == 2
    assert row.failed_count == 1


def test_package_list_filters_by_status(package, endpoint, tmp_path, responder):
    complete = store_package(
        endpoint, tmp_path, unique_package(2, [artifact("a", [{"x": 1}])])
    )

    response = client_for(responder).get("/forensics/packages/?status=complete")

    assert [row.pk for row in response.context["page"]] == [complete.pk]


def test_package_list_query_count(endpoint, tmp_path, responder):
    client = client_for(responder)
    store_package(endpoint, tmp_path, unique_package(0))
    with CaptureQueriesContext(connection) as few:
        client.get("/forensics/packages/")

    for number in range(1, 12):
        store_package(endpoint, tmp_path, unique_package(number))
    with CaptureQueriesContext(connection) as many:
        response = client.get("/forensics/packages/")

    assert len(response.context["page"]) == 12
    # Session, user, the user's and the groups' permissions, count, page.
    assert len(few) == 6
    assert len(many) == len(few)


def test_package_detail_lists_artifacts(package, responder):
    response = client_for(responder).get(f"/forensics/packages/{package.pk}/")

    text = response.text
    assert "system.processes" in text
    assert "Timed out" in text
    assert "gave up after 120 s" in text
    assert "0.4.0" in text


def artifact_url(package, artifact, query="") -> str:
    return f"/forensics/packages/{package.pk}/artifacts/{artifact.pk}/{query}"


def pids(response) -> list[str]:
    index = response.context["columns"].index("pid")
    return [row[index] for row in response.context["rows"]]


def test_artifact_page_table(package, processes, responder):
    response = client_for(responder).get(artifact_url(package, processes))

    assert response.context["columns"] == ["pid", "name", "cmdline"]
    assert pids(response) == ["1", "10", "9", "200", ""]
    assert "python3 -m http.server" in response.text


def test_artifact_page_paging(package, processes, responder):
    client = client_for(responder)

    first = client.get(artifact_url(package, processes, "?per_page=2"))
    last = client.get(artifact_url(package, processes, "?per_page=2&page=3"))

    assert pids(first) == ["1", "10"]
    assert pids(last) == [""]
    assert first.context["page"].paginator.num_pages == 3
    assert "per_page=2&amp;page=2" in first.text


def test_artifact_page_caps_rows_per_page(package, processes, responder):
    response = client_for(responder).get(
        artifact_url(package, processes, "?per_page=100000")
    )

    assert response.context["per_page"] == 500


def test_artifact_page_sorts_numbers_by_value(package, processes, responder):
    client = client_for(responder)

    ascending = client.get(artifact_url(package, processes, "?sort=pid"))
    descending = client.get(artifact_url(package, processes, "?sort=pid&order=desc"))

    assert pids(ascending) == ["1", "9", "10", "200", ""]
    assert pids(descending) == ["200", "10", "9", "1", ""]


def test_artifact_page_sorts_text(package, processes, responder):
    response = client_for(responder).get(artifact_url(package, processes, "?sort=name"))

    names = [row[1] for row in response.context["rows"]]
    assert names == ["bash", "kworker", "python3", "sshd", "systemd"]


def test_artifact_page_ignores_unknown_sort(package, processes, responder):
    response = client_for(responder).get(artifact_url(package, processes, "?sort=nope"))

    assert pids(response) == ["1", "10", "9", "200", ""]


def test_artifact_page_search(package, processes, responder):
    client = client_for(responder)

    found = client.get(artifact_url(package, processes, "?q=ALICE"))
    none = client.get(artifact_url(package, processes, "?q=no-such-thing"))

    assert pids(found) == ["10"]
    assert found.context["page"].paginator.count == 1
    assert found.context["total"] == 5
    assert none.context["rows"] == []
    assert "No rows." in none.text


def test_artifact_page_escapes_cells(endpoint, tmp_path, responder):
    rows = [{"name": "<script>alert(1)</script>"}]
    package = store_package(
        endpoint, tmp_path, unique_package(5, [artifact("evil", rows)])
    )
    evil = package.artifacts.get()

    response = client_for(responder).get(artifact_url(package, evil))

    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_artifact_page_too_large(package, processes, responder, monkeypatch):
    monkeypatch.setattr("forensics.viewer.VIEW_MAX_BYTES", 10)

    response = client_for(responder).get(artifact_url(package, processes))

    assert response.status_code == 200
    assert "download it instead" in response.text


def test_artifact_page_other_package_404(
    package, processes, responder, endpoint, tmp_path
):
    other = store_package(endpoint, tmp_path, unique_package(7))

    response = client_for(responder).get(artifact_url(other, processes))

    assert response.status_code == 404


def test_package_download_attachment(package, responder, events):
    response = client_for(responder).get(f"/forensics/packages/{package.pk}/download")

    body = b"".join(response.streaming_content)
    assert body == package.file.open("rb").read()
    assert sha256(body) == package.sha256
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    (event,) = events
    assert event["kind"] == "forensics.package_downloaded"
    assert event["actor"] == responder
    assert event["subject"] == package


@pytest.mark.parametrize(
    ("file_format", "content_type"), [("csv", "text/csv"), ("json", "application/json")]
)
def test_artifact_download(
    package, processes, responder, events, file_format, content_type
):
    response = client_for(responder).get(
        artifact_url(package, processes, f"download.{file_format}")
    )

    body = b"".join(response.streaming_content)
    assert response["Content-Type"].startswith(content_type)
    assert response["Content-Disposition"] == (
        f'attachment; filename="package-{package.pk}-system.processes.{file_format}"'
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    if file_format == "json":
        assert json.loads(body)["rows"] == PROCESSES
    else:
        assert body.decode().splitlines()[0] == "pid,name,cmdline"
    assert events[0]["kind"] == "forensics.artifact_downloaded"
    assert events[0]["endpoint_id"] == package.endpoint_id


def test_artifact_download_unknown_format_404(package, processes, responder):
    response = client_for(responder).get(
        artifact_url(package, processes, "download.xml")
    )

    assert response.status_code == 404


def test_artifact_download_without_member_404(package, responder):
    failed = package.artifacts.get(name="users.login_history")

    response = client_for(responder).get(artifact_url(package, failed, "download.csv"))

    assert response.status_code == 404


def test_file_download_attachment_only(collected, responder, events):
    response = client_for(responder).get(f"/forensics/files/{collected.pk}/download")

    body = b"".join(response.streaming_content)
    assert sha256(body) == collected.zip_sha256
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{collected.sha256}.zip"'
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    # The stored zip is the encrypted one: the sample is not readable in it.
    assert eicar() not in body
    assert events[0]["kind"] == "forensics.file_downloaded"


def test_file_list_finds_by_hash(collected, responder):
    client = client_for(responder)

    found = client.get(f"/forensics/files/?sha256={collected.sha256.upper()}")
    missing = client.get(f"/forensics/files/?sha256={'0' * 64}")

    assert [row.pk for row in found.context["page"]] == [collected.pk]
    assert list(missing.context["page"]) == []
    assert "/tmp/.x/dropper" in found.text


def test_package_detail_links_listed_files(endpoint, collected, tmp_path, responder):
    missing = "f" * 64

    def list_iocs(manifest):
        manifest["iocs"] = [
            {"sha256": collected.sha256.upper(), "original_path": "/tmp/.x/dropper"},
            {"sha256": missing, "original_path": "/tmp/.x/gone", "status": "error"},
        ]

    package = store_package(endpoint, tmp_path, package_bytes(edit_manifest=list_iocs))

    response = client_for(responder).get(f"/forensics/packages/{package.pk}/")

    stored, absent = response.context["iocs"]
    assert stored["stored"] == collected
    assert absent["stored"] is None
    assert f'href="/forensics/files/{collected.pk}/download"' in response.text
    assert "not received" in response.text


def test_file_list_filters_by_endpoint(collected, other_endpoint, responder):
    client = client_for(responder)

    own = client.get(f"/forensics/files/?endpoint={collected.endpoint_id}")
    other = client.get(f"/forensics/files/?endpoint={other_endpoint.pk}")

    assert [row.pk for row in own.context["page"]] == [collected.pk]
    assert list(other.context["page"]) == []


def test_package_list_filters_by_endpoint(package, other_endpoint, tmp_path, responder):
    foreign = store_package(other_endpoint, tmp_path, unique_package(9))
    client = client_for(responder)

    response = client.get(f"/forensics/packages/?endpoint={other_endpoint.pk}")

    assert [row.pk for row in response.context["page"]] == [foreign.pk]


def test_file_list_query_count(endpoint, tmp_path, responder):
    client = client_for(responder)

    def receive_files(numbers):
        for number in numbers:
            body = collected_file_bytes(f"sample {number}".encode())
            path = tmp_path / f"ioc-{number}.zip"
            path.write_bytes(body)
            actions.receive_collected_file(
                path, sha256(body), len(body), endpoint=endpoint
            )

    receive_files(range(1))
    with CaptureQueriesContext(connection) as few:
        client.get("/forensics/files/")
    receive_files(range(1, 10))
    with CaptureQueriesContext(connection) as many:
        response = client.get("/forensics/files/")

    assert len(response.context["page"]) == 10
    assert len(many) == len(few)
