import hashlib
import io
from pathlib import Path

import pytest

from forensics import storage
from forensics.tests.builders import artifact, package_bytes, write_zip
from forensics.verify import Rejected, check_member_name, verify_package


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "package.zip"
    path.write_bytes(data)
    return path


def rejection(tmp_path: Path, **build) -> str:
    with pytest.raises(Rejected) as caught:
        verify_package(write(tmp_path, package_bytes(**build)))
    return str(caught.value)


def test_verify_package_reads_manifest(tmp_path):
    package = verify_package(write(tmp_path, package_bytes()))

    assert package.collector_version == "0.4.0"
    assert package.status == "partial"
    assert [a.name for a in package.artifacts] == [
        "network.arp_cache",
        "users.login_history",
        "software.prefetch",
    ]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["ok", "unsupported", "skipped"], "complete"),
        (["ok", "partial"], "partial"),
        (["ok", "timeout"], "partial"),
        (["error", "permission_denied", "unsupported"], "failed"),
    ],
)
def test_verify_package_status(tmp_path, statuses, expected):
    artifacts = []
    for index, status in enumerate(statuses):
        rows = [{"n": index}] if status in ("ok", "partial") else None
        error = (
            "failed" if status in ("error", "timeout", "permission_denied") else None
        )
        artifacts.append(artifact(f"a{index}", rows, status=status, error=error))

    package = verify_package(write(tmp_path, package_bytes(artifacts)))

    assert package.status == expected


def test_verify_package_zero_rows_ok(tmp_path):
    package = verify_package(write(tmp_path, package_bytes([artifact("empty", [])])))

    (only,) = package.artifacts
    assert only.status == "ok"
    assert only.row_count == 0
    assert only.json_member == "artifacts/empty.json"


@pytest.mark.parametrize(
    "field",
    ["schema_version", "package_id", "collector", "started_utc", "artifacts"],
)
def test_verify_package_required_field(tmp_path, field):
    message = rejection(tmp_path, edit_manifest=lambda m: m.pop(field))

    assert message == f"manifest.json: {field}: missing"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda m: m.update(schema_version="2.0"),
            "schema_version: unsupported '2.0'",
        ),
        (
            lambda m: m.update(started_utc="2026-12-04 15:30:01"),
            "started_utc: invalid time",
        ),
        (
            lambda m: m.update(finished_utc="2026-12-04T15:00:00Z"),
            "finished_utc: before started_utc",
        ),
        (
            lambda m: m["artifacts"][0].update(status="fine"),
            "artifacts[0].status: invalid value 'fine'",
        ),
        (
            lambda m: m["artifacts"][0].update(row_count=True),
            "artifacts[0].row_count: expected int, got bool",
        ),
        (
            lambda m: m["artifacts"][1].update(error=None),
            "artifacts[1].error: missing for status 'error'",
        ),
        (
            lambda m: m["artifacts"][0].update(error="boom"),
            "artifacts[0].error: set although status is 'ok'",
        ),
        (
            lambda m: m["artifacts"][2].update(name="network.arp_cache"),
            "artifacts[2].name: duplicate 'network.arp_cache'",
        ),
        (
            lambda m: m["artifacts"][0]["files"].pop(),
            "needs exactly one .json and one .csv file",
        ),
        (
            lambda m: m["members"].clear(),
            "member 'collection.log.jsonl': not listed in manifest.json",
        ),
        (
            lambda m: m["members"].append(
                {"path": "raw/gone.bin", "size": 1, "sha256": "0" * 64}
            ),
            "lists 'raw/gone.bin', missing from the zip",
        ),
        (
            lambda m: m["members"].append(dict(m["members"][0])),
            "lists 'collection.log.jsonl' twice",
        ),
        (
            lambda m: m["members"][0].update(size=1),
            "member 'collection.log.jsonl': 68 bytes, expected 1 from the manifest",
        ),
    ],
)
def test_verify_package_manifest_errors(tmp_path, edit, expected):
    assert expected in rejection(tmp_path, edit_manifest=edit)


def test_verify_package_missing_manifest(tmp_path):
    path = write(tmp_path, write_zip([("artifacts/x.json", b"{}")]))

    with pytest.raises(Rejected, match=r"manifest\.json: missing from the zip"):
        verify_package(path)


def test_verify_package_manifest_not_json(tmp_path):
    path = write(tmp_path, write_zip([("manifest.json", b"{not json")]))

    with pytest.raises(Rejected, match=r"manifest\.json: invalid JSON"):
        verify_package(path)


@pytest.mark.parametrize(
    "name",
    ["artifacts/network.arp_cache.json", "raw/bash_history/home/alice/.bash_history"],
)
def test_check_member_name_accepts_plain_paths(name):
    check_member_name(name)


def test_save_stream_over_limit_removes_part(tmp_path, media_root):
    stream = io.BytesIO(b"x" * (3 * storage.CHUNK_BYTES))

    with pytest.raises(storage.TooLarge):
        storage.save_stream(stream, limit=storage.CHUNK_BYTES + 1)

    assert list(storage.incoming_dir().iterdir()) == []


def test_save_stream_hashes_while_copying(media_root):
    data = bytes(range(256)) * 5000
    path, sha256, size = storage.save_stream(io.BytesIO(data), limit=len(data))

    assert path.read_bytes() == data
    assert size == len(data)
    assert sha256 == hashlib.sha256(data).hexdigest()
