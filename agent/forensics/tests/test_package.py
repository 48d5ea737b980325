"""The package format: manifest, member hashes, typed JSON and formula-safe CSV."""

import csv
import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from agent.forensics.model import FAILED, STATUSES
from agent.forensics.package import csv_cell, verify_package, write_package
from agent.forensics.runner import ArtifactResult, load_collectors

UTC_PATTERN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


def sample_results() -> list[ArtifactResult]:
    load_collectors()
    return [
        ArtifactResult(
            name="users.shell_history",
            status="ok",
            rows=[
                {
                    "uid": 1000,
                    "username": "alice",
                    "shell": "bash",
                    "time": 1700000000,
                    "time_utc": "2023-11-14T22:13:20Z",
                    "command": '=HYPERLINK("http://x")',
                },
                {
                    "uid": 1000,
                    "username": "alice",
                    "shell": "bash",
                    "time": None,
                    "command": "a\x00b",
                },
                {
                    "uid": 0,
                    "username": "root",
                    "shell": "bash",
                    "time": None,
                    "command": 'line one\nline two, "quoted"',
                },
            ],
            sources=["/home/alice/.bash_history"],
            started_utc="2026-12-04T15:30:01.000001Z",
            duration_ms=3,
        ),
        ArtifactResult(
            name="network.connections",
            status="partial",
            rows=[
                {
                    "pid": None,
                    "socket": 2**63 - 5,
                    "local_port": 2024,
                    "field_errors": {"exe": "zombie"},
                }
            ],
            warnings=["1 socket(s) without owning PID: permission denied"],
            started_utc="2026-12-04T15:30:01.000002Z",
        ),
        ArtifactResult(
            name="users.login_history",
            status="error",
            error={"type": "FileNotFoundError", "errno": 2, "message": "/var/log/wtmp"},
            started_utc="2026-12-04T15:30:01.000003Z",
        ),
        ArtifactResult(
            name="software.prefetch",
            status="unsupported",
            reason="this artifact exists on Windows only",
            started_utc="2026-12-04T15:30:01.000004Z",
        ),
        ArtifactResult(
            name="system.time",
            status="timeout",
            error={"type": "TimeoutError", "errno": None, "message": "stopped"},
            started_utc="2026-12-04T15:30:01.000005Z",
        ),
    ]


@pytest.fixture
def package_path(tmp_path: Path) -> Path:
    package = write_package(sample_results(), tmp_path / "p.zip", request_id="42")
    assert package.path == tmp_path / "p.zip"
    return package.path


def read_zip(path: Path) -> tuple[dict, dict[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(members["manifest.json"]), members


def test_package_hash_returned_matches_file(tmp_path: Path) -> None:
    package = write_package(sample_results(), tmp_path / "p.zip")
    assert package.sha256 == hashlib.sha256(package.path.read_bytes()).hexdigest()
    assert package.size == package.path.stat().st_size
    assert not (tmp_path / "p.zip.partial").exists()


def test_package_members_all_listed_and_hashes_verify(package_path: Path) -> None:
    manifest, members = read_zip(package_path)
    listed = {f["path"]: f for a in manifest["artifacts"] for f in a["files"]}
    listed.update({m["path"]: m for m in manifest["members"]})
    assert set(listed) == set(members) - {"manifest.json"}
    for path, entry in listed.items():
        assert entry["size"] == len(members[path])
        assert entry["sha256"] == hashlib.sha256(members[path]).hexdigest()
    assert verify_package(package_path) == []


def test_package_flipped_byte_fails_verification(
    package_path: Path, tmp_path: Path
) -> None:
    _manifest, members = read_zip(package_path)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in members.items():
            if name == "artifacts/users.shell_history.json":
                data = data.replace(b"alice", b"alicf", 1)
            archive.writestr(name, data)
    problems = verify_package(tampered)
    assert problems == [
        "artifacts/users.shell_history.json: SHA-256 does not match the manifest"
    ]


def test_package_unlisted_member_fails_verification(
    package_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "extra.zip"
    shutil.copy(package_path, copy)
    with zipfile.ZipFile(copy, "a") as archive:
        archive.writestr("artifacts/extra.json", b"{}")
    assert verify_package(copy) == [
        "artifacts/extra.json: present but not in the manifest"
    ]


def test_package_row_counts_match_json_and_csv(package_path: Path) -> None:
    manifest, members = read_zip(package_path)
    for entry in manifest["artifacts"]:
        if not entry["files"]:
            assert entry["row_count"] == 0
            continue
        document = json.loads(members[f"artifacts/{entry['name']}.json"])
        rows = list(
            csv.reader(
                io.StringIO(
                    members[f"artifacts/{entry['name']}.csv"].decode("utf-8"),
                    newline="",
                )
            )
        )
        assert entry["row_count"] == len(document["rows"])
        assert entry["row_count"] == len(rows) - 1
        assert rows[0] == [column["name"] for column in document["columns"]]


def test_package_statuses_errors_and_times(package_path: Path) -> None:
    manifest, _members = read_zip(package_path)
    for entry in manifest["artifacts"]:
        assert entry["status"] in STATUSES
        assert (entry["error"] is not None) == (entry["status"] in FAILED)
        assert UTC_PATTERN.match(entry["started_utc"])
    assert UTC_PATTERN.match(manifest["started_utc"])
    assert UTC_PATTERN.match(manifest["finished_utc"])
    assert manifest["finished_utc"] >= manifest["started_utc"]
    assert manifest["request_id"] == "42"
    by_name = {e["name"]: e for e in manifest["artifacts"]}
    assert (
        by_name["software.prefetch"]["reason"] == "this artifact exists on Windows only"
    )
    assert by_name["network.connections"]["warnings"] == [
        "1 socket(s) without owning PID: permission denied"
    ]


def test_package_manifest_endpoint_and_collector(package_path: Path) -> None:
    manifest, _members = read_zip(package_path)
    assert manifest["schema_version"] == "1.0"
    assert manifest["collector"]["name"] == "exec-agent"
    assert manifest["endpoint"]["os"]["family"] == "linux"
    assert manifest["endpoint"]["hostname"]
    assert manifest["run_as"]["uid"] is not None
    assert manifest["iocs"] == []


def test_package_json_is_typed(package_path: Path) -> None:
    _manifest, members = read_zip(package_path)
    history = json.loads(members["artifacts/users.shell_history.json"])
    assert history["artifact"] == "users.shell_history"
    assert {"name": "time_utc", "type": "datetime"} in history["columns"]
    assert history["rows"][0]["command"] == '=HYPERLINK("http://x")'
    assert history["rows"][0]["time"] == 1700000000
    assert history["rows"][1]["command"] == "a\x00b"
    assert '"a\\u0000b"' in members["artifacts/users.shell_history.json"].decode()
    connections = json.loads(members["artifacts/network.connections.json"])
    assert connections["rows"][0]["socket"] == str(2**63 - 5)
    assert connections["rows"][0]["field_errors"] == {"exe": "zombie"}
    assert connections["columns"][-1] == {"name": "field_errors", "type": "json"}


def test_package_csv_neutralises_formulas(package_path: Path) -> None:
    _manifest, members = read_zip(package_path)
    text = members["artifacts/users.shell_history.csv"].decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows[0]["command"] == '\'=HYPERLINK("http://x")'
    assert rows[1]["command"] == "a\\x00b"
    assert len(rows[1]["command"]) == 6
    assert rows[2]["command"] == 'line one\nline two, "quoted"'
    assert "\x00" not in text


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tstart", "'\tstart"),
        ("\rstart", "'\rstart"),
        ("plain", "plain"),
        (-5, "-5"),
        (None, ""),
        (True, "true"),
        ([1, "a"], '[1, "a"]'),
        ("bell\x07", "bell\\x07"),
    ],
)
def test_csv_cell_cases(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_package_value_of_wrong_type_becomes_null(tmp_path: Path) -> None:
    load_collectors()
    result = ArtifactResult(
        name="system.uptime",
        status="ok",
        rows=[{"days": "not a number", "hours": 3}],
        started_utc="2026-12-04T15:30:01.000001Z",
    )
    package = write_package([result], tmp_path / "p.zip")
    manifest, members = read_zip(package.path)
    rows = json.loads(members["artifacts/system.uptime.json"])["rows"]
    assert rows[0]["days"] is None
    assert rows[0]["hours"] == 3
    assert manifest["artifacts"][0]["warnings"] == [
        "1 value(s) did not fit their column type and are null"
    ]
