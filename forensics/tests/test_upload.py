import io
import json
import zipfile

import pytest
import requests
from django.test import Client

from forensics.models import CollectedFile, ForensicsPackage, PackageArtifact
from forensics.tests.builders import (
    collected_file_bytes,
    eicar,
    file_metadata,
    package_bytes,
    sha256,
)
from forensics.tests.conftest import (
    AGENT_TOKEN,
    OTHER_TOKEN,
    make_endpoint,
    make_task,
    stored_files,
)

pytestmark = pytest.mark.django_db


def upload(
    task_id: int,
    body: bytes,
    *,
    token: str = AGENT_TOKEN,
    kind: str | None = "package",
    claimed: str | None = None,
    **extra,
):
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Content-SHA256": claimed if claimed is not None else sha256(body),
    }
    if kind:
        headers["X-Upload-Kind"] = kind
    return Client().post(
        f"/api/v1/agent/tasks/{task_id}/upload",
        data=body,
        content_type="application/zip",
        headers=headers,
        **extra,
    )


def assert_nothing_kept(media_root):
    assert stored_files(media_root) == []
    assert ForensicsPackage.objects.count() == 0
    assert PackageArtifact.objects.count() == 0
    assert CollectedFile.objects.count() == 0


def test_upload_package_round_trip(task, media_root, events):
    body = package_bytes()

    response = upload(task.pk, body)

    assert response.status_code == 201
    package = ForensicsPackage.objects.get()
    assert response.json() == {
        "id": package.pk,
        "sha256": sha256(body),
        "size": len(body),
    }
    assert package.task == task
    assert package.endpoint == task.endpoint
    assert package.status == "partial"
    assert package.collector_version == "0.4.0"
    assert package.started.isoformat() == "2026-12-04T15:30:01.123456+00:00"
    assert package.ended.isoformat() == "2026-12-04T15:30:03.987654+00:00"
    assert package.manifest["package_id"] == "6f0c9f8e-2d1b-4b7e-9a51-3c7e0d2f4a11"
    with package.file.open("rb") as stored:
        assert stored.read() == body
    assert (
        package.file.name == f"forensics/packages/{sha256(body)[:2]}/{sha256(body)}.zip"
    )


def test_upload_package_artifact_rows(task, media_root):
    upload(task.pk, package_bytes())

    arp, logins, prefetch = PackageArtifact.objects.order_by("position")
    assert (arp.name, arp.status, arp.row_count) == ("network.arp_cache", "ok", 2)
    assert arp.json_member == "artifacts/network.arp_cache.json"
    assert arp.csv_member == "artifacts/network.arp_cache.csv"
    assert len(arp.sha256) == 64
    assert logins.status == "error"
    assert logins.error == "FileNotFoundError [errno 2]: /var/log/wtmp"
    assert logins.json_member == ""
    assert prefetch.status == "unsupported"
    assert prefetch.error == "not windows"


def test_upload_package_records_event(task, events):
    upload(task.pk, package_bytes())

    package = ForensicsPackage.objects.get()
    (event,) = events
    assert event["kind"] == "forensics.package_received"
    assert event["actor"] == f"agent:{task.endpoint_id}"
    assert event["subject"] == package
    assert event["endpoint_id"] == task.endpoint_id
    assert event["details"]["task_id"] == task.pk


def test_upload_leaves_task_to_agent(task):
    upload(task.pk, package_bytes())

    task.refresh_from_db()
    assert task.status == "running"
    assert list(task.forensics_packages.all()) == [ForensicsPackage.objects.get()]


def test_upload_same_bytes_twice_stores_once(task, media_root, events):
    body = package_bytes()

    first = upload(task.pk, body)
    second = upload(task.pk, body)

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert ForensicsPackage.objects.count() == 1
    assert len(stored_files(media_root)) == 1
    assert len(events) == 1


def test_upload_same_bytes_two_endpoints_share_file(task, other_endpoint, media_root):
    body = package_bytes()
    other_task = make_task(other_endpoint)

    upload(task.pk, body)
    response = upload(other_task.pk, body, token=OTHER_TOKEN)

    assert response.status_code == 201
    names = set(ForensicsPackage.objects.values_list("file", flat=True))
    assert len(names) == 1
    assert len(stored_files(media_root)) == 1


def test_upload_hash_mismatch_rejected(task, media_root):
    body = package_bytes()
    flipped = bytearray(body)
    flipped[len(flipped) // 2] ^= 0x01

    response = upload(task.pk, bytes(flipped), claimed=sha256(body))

    assert response.status_code == 400
    assert "X-Content-SHA256" in response.json()["detail"]
    assert_nothing_kept(media_root)


def test_upload_flipped_member_byte_rejected(task, media_root):
    """A member changed after the manifest was written fails its listed SHA-256."""

    def flip(members):
        data = bytearray(members["artifacts/network.arp_cache.csv"])
        data[5] ^= 0x01
        members["artifacts/network.arp_cache.csv"] = bytes(data)

    response = upload(task.pk, package_bytes(edit_members=flip))

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "artifacts/network.arp_cache.csv" in detail
    assert "SHA-256" in detail
    assert_nothing_kept(media_root)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.sh", "'..'"),
        ("artifacts/../../evil.sh", "'..'"),
        ("/etc/cron.d/evil", "absolute path"),
        ("C:/Windows/evil.dll", "drive letter"),
        ("C:evil.dll", "drive letter"),
        ("..\\evil.dll", "backslash"),
        ("artifacts\\..\\evil.dll", "backslash"),
        ("artifacts//evil", "empty or '.' segment"),
        ("./evil", "empty or '.' segment"),
    ],
)
def test_upload_unsafe_member_rejected(task, media_root, name, reason):
    response = upload(task.pk, package_bytes(extra=[(zipfile.ZipInfo(name), b"x")]))

    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert_nothing_kept(media_root)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_upload_duplicate_member_rejected(task, media_root):
    body = package_bytes(extra=[("collection.log.jsonl", b"second copy\n")])

    response = upload(task.pk, body)

    assert response.status_code == 400
    assert "duplicate name" in response.json()["detail"]
    assert_nothing_kept(media_root)


def test_upload_case_duplicate_member_rejected(task, media_root):
    body = package_bytes(extra=[("Collection.Log.jsonl", b"{}\n")])

    response = upload(task.pk, body)

    assert response.status_code == 400
    assert "duplicate name" in response.json()["detail"]


def test_upload_symlink_member_rejected(task, media_root):
    link = zipfile.ZipInfo("artifacts/link")
    link.external_attr = 0o120777 << 16

    response = upload(task.pk, package_bytes(extra=[(link, b"/etc/shadow")]))

    assert response.status_code == 400
    assert "symbolic link" in response.json()["detail"]


def test_upload_zip_bomb_ratio_rejected(task, media_root):
    bomb = b"\0" * (16 * 1024 * 1024)
    body = package_bytes(extra=[("raw/bomb.bin", bomb)])
    assert len(body) < 100_000

    response = upload(task.pk, body)

    assert response.status_code == 400
    assert "compression ratio" in response.json()["detail"]
    assert_nothing_kept(media_root)


def test_upload_total_uncompressed_limit(task, media_root, settings):
    settings.FORENSICS_MAX_UNCOMPRESSED_BYTES = 2048
    body = package_bytes(extra=[("raw/big.bin", bytes(range(256)) * 16)])

    response = upload(task.pk, body)

    assert response.status_code == 400
    assert (
        "uncompressed size exceeds the limit of 2048 bytes" in response.json()["detail"]
    )
    assert_nothing_kept(media_root)


def test_upload_over_limit_413(task, media_root, settings):
    settings.FORENSICS_MAX_UPLOAD_BYTES = 1024
    body = package_bytes(extra=[("raw/noise.bin", bytes(range(256)) * 64)])
    assert len(body) > 1024

    response = upload(task.pk, body)

    assert response.status_code == 413
    assert "limit of 1024 bytes" in response.json()["detail"]
    assert_nothing_kept(media_root)


def test_upload_short_content_length_rejected(task, media_root):
    """Django reads no further than Content-Length, so the zip arrives cut short."""
    body = package_bytes()

    response = upload(task.pk, body, CONTENT_LENGTH=str(len(body) - 10))

    assert response.status_code == 400
    assert "does not match the received zip's SHA-256" in response.json()["detail"]
    assert_nothing_kept(media_root)


def test_upload_without_length_411(task, media_root):
    response = upload(task.pk, package_bytes(), CONTENT_LENGTH="")

    assert response.status_code == 411
    assert_nothing_kept(media_root)


def test_upload_foreign_task_404(endpoint, other_endpoint, media_root):
    foreign = make_task(other_endpoint)

    response = upload(foreign.pk, package_bytes())

    assert response.status_code == 404
    assert_nothing_kept(media_root)


def test_upload_missing_task_404(endpoint, media_root):
    assert upload(99999, package_bytes()).status_code == 404


def test_upload_bad_token_401(task, media_root):
    response = upload(task.pk, package_bytes(), token="agt_unknown")

    assert response.status_code == 401
    assert_nothing_kept(media_root)


def test_upload_user_session_rejected(task, admin_user, media_root):
    client = Client()
    client.force_login(admin_user)
    body = package_bytes()

    response = client.post(
        f"/api/v1/agent/tasks/{task.pk}/upload",
        data=body,
        content_type="application/zip",
        headers={"X-Content-SHA256": sha256(body)},
    )

    assert response.status_code == 401
    assert_nothing_kept(media_root)


def test_upload_finished_task_409(endpoint, media_root):
    finished = make_task(endpoint, status="succeeded")

    response = upload(finished.pk, package_bytes())

    assert response.status_code == 409
    assert "succeeded" in response.json()["detail"]
    assert_nothing_kept(media_root)


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"claimed": "abc"}, "X-Content-SHA256"),
        ({"claimed": ""}, "X-Content-SHA256"),
        ({"kind": "evidence"}, "X-Upload-Kind"),
    ],
)
def test_upload_bad_headers_400(task, media_root, headers, field):
    response = upload(task.pk, package_bytes(), **headers)

    assert response.status_code == 400
    assert response.json()["detail"].startswith(field)
    assert_nothing_kept(media_root)


def test_upload_kind_defaults_to_package(task):
    response = upload(task.pk, package_bytes(), kind=None)

    assert response.status_code == 201
    assert ForensicsPackage.objects.count() == 1


def test_upload_not_a_zip_rejected(task, media_root):
    response = upload(task.pk, b"this is not a zip file")

    assert response.status_code == 400
    assert "not a readable zip" in response.json()["detail"]
    assert_nothing_kept(media_root)


def test_upload_collected_file_stored(endpoint, media_root, events):
    content = eicar() + b"\n"
    body = collected_file_bytes(content)
    task = make_task(endpoint, "collect_file")

    response = upload(task.pk, body, kind="file")

    assert response.status_code == 201
    collected = CollectedFile.objects.get()
    assert response.json()["id"] == collected.pk
    assert collected.sha256 == sha256(content)
    assert collected.size == len(content)
    assert collected.original_path == "/tmp/.x/dropper"
    assert collected.zip_sha256 == sha256(body)
    assert collected.task == task
    assert collected.changed_during_read is False
    with collected.file.open("rb") as stored:
        assert stored.read() == body
    assert events[0]["kind"] == "forensics.file_received"


def test_upload_collected_file_never_decrypts_content(endpoint, media_root):
    """A .bin member with corrupt encrypted data is stored, because it is never read."""
    content = b"MZ" + bytes(range(256)) * 4
    body = bytearray(collected_file_bytes(content))
    with zipfile.ZipFile(io.BytesIO(bytes(body))) as archive:
        info = archive.getinfo(f"{sha256(content)}.bin")
    # Past the local header, the AES salt (16 bytes) and password verifier (2).
    data_start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    body[data_start + 20] ^= 0xFF
    task = make_task(endpoint, "collect_file")

    response = upload(task.pk, bytes(body), kind="file")

    assert response.status_code == 201
    assert CollectedFile.objects.get().sha256 == sha256(content)


def test_upload_collected_file_wrong_password(endpoint, media_root):
    body = collected_file_bytes(b"sample", password=b"secret")

    response = upload(make_task(endpoint).pk, body, kind="file")

    assert response.status_code == 400
    assert "metadata.json: cannot be decrypted" in response.json()["detail"]
    assert_nothing_kept(media_root)


def test_upload_collected_file_plain_zip_rejected(endpoint, media_root):
    content = b"sample"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{sha256(content)}.bin", content)
        archive.writestr("metadata.json", json.dumps(file_metadata(content)))

    response = upload(make_task(endpoint).pk, buffer.getvalue(), kind="file")

    assert response.status_code == 400
    assert "not AES-encrypted" in response.json()["detail"]
    assert_nothing_kept(media_root)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sha256": "0" * 64}, "does not match the member"),
        ({"size": 1}, "size 1 does not match"),
        ({"sha1": "xyz"}, "sha1: missing or not a hex digest"),
        ({"original_path": None}, "original_path: missing"),
    ],
)
def test_upload_collected_file_bad_metadata(endpoint, media_root, changes, message):
    content = b"sample content"
    body = collected_file_bytes(content, metadata=file_metadata(content, **changes))

    response = upload(make_task(endpoint).pk, body, kind="file")

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert_nothing_kept(media_root)


def test_upload_collected_file_extra_member_rejected(endpoint, media_root):
    body = collected_file_bytes(b"sample", extra=[("readme.txt", b"hello")])

    response = upload(make_task(endpoint).pk, body, kind="file")

    assert response.status_code == 400
    assert "exactly <sha256>.bin and metadata.json" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_upload_over_real_socket(live_server, tmp_path, media_root):
    """An agent's upload through a real HTTP server, streamed from a file."""
    endpoint = make_endpoint("web01", AGENT_TOKEN)
    task = make_task(endpoint)
    body = package_bytes()
    path = tmp_path / "package.zip"
    path.write_bytes(body)

    with open(path, "rb") as stream:
        response = requests.post(
            f"{live_server.url}/api/v1/agent/tasks/{task.pk}/upload",
            data=stream,
            headers={
                "Authorization": f"Bearer {AGENT_TOKEN}",
                "Content-Type": "application/zip",
                "X-Content-SHA256": sha256(body),
                "X-Upload-Kind": "package",
            },
            timeout=30,
        )

    assert response.status_code == 201
    assert response.json()["sha256"] == sha256(body)
    assert ForensicsPackage.objects.get().task_id == task.pk
    assert len(stored_files(media_root)) == 1


@pytest.mark.django_db(transaction=True)
def test_upload_over_limit_real_socket(live_server, tmp_path, media_root, settings):
    """The agent reads the 413 even though the server stops before the body ends."""
    settings.FORENSICS_MAX_UPLOAD_BYTES = 64 * 1024
    endpoint = make_endpoint("web01", AGENT_TOKEN)
    task = make_task(endpoint)
    path = tmp_path / "large.zip"
    path.write_bytes(bytes(range(256)) * 4096 * 2)

    with open(path, "rb") as stream:
        response = requests.post(
            f"{live_server.url}/api/v1/agent/tasks/{task.pk}/upload",
            data=stream,
            headers={
                "Authorization": f"Bearer {AGENT_TOKEN}",
                "Content-Type": "application/zip",
                "X-Content-SHA256": "0" * 64,
            },
            timeout=30,
        )

    assert response.status_code == 413
    assert_nothing_kept(media_root)
