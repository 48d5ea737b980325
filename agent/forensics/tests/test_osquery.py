"""The optional osqueryi source, with a stand-in `osqueryi` script on PATH."""

import json
import os
import stat
import sys
import zipfile
from pathlib import Path

import pytest

from agent.forensics.cli import main
from agent.forensics.model import ARTIFACTS, OK
from agent.forensics.osquery import convert, parse_osqueryi_json
from agent.forensics.runner import load_collectors, run_collector

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses a shell script")


def fake_osqueryi(folder: Path, output: str, exit_code: int = 0) -> None:
    """Write an `osqueryi` that prints `output` whatever the query."""
    script = folder / "osqueryi"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    load_collectors()
    return folder


GROUPS_JSON = json.dumps(
    [
        {"gid": "0", "groupname": "root", "group_sid": "", "comment": ""},
        {"gid": "27", "groupname": "sudo", "group_sid": "", "comment": ""},
    ]
)


def test_osquery_rows_are_typed(bin_dir: Path) -> None:
    fake_osqueryi(bin_dir, GROUPS_JSON)
    outcome = run_collector(ARTIFACTS["users.groups"], "linux", use_osquery=True)
    assert outcome["status"] == OK
    assert outcome["rows"] == [
        {"gid": 0, "groupname": "root", "group_sid": None, "comment": None},
        {"gid": 27, "groupname": "sudo", "group_sid": None, "comment": None},
    ]
    assert outcome["sources"][0].startswith("osqueryi: SELECT gid")


def test_osquery_failure_falls_back_to_native(bin_dir: Path) -> None:
    fake_osqueryi(bin_dir, "error: no such table", exit_code=1)
    outcome = run_collector(ARTIFACTS["users.groups"], "linux", use_osquery=True)
    assert outcome["status"] == OK
    assert outcome["sources"] == ["/etc/group"]
    assert outcome["warnings"][0].startswith(
        "osqueryi failed, used the native collector: osqueryi exited 1"
    )


def test_osquery_not_used_by_default(bin_dir: Path) -> None:
    fake_osqueryi(bin_dir, GROUPS_JSON)
    outcome = run_collector(ARTIFACTS["users.groups"], "linux")
    assert outcome["sources"] == ["/etc/group"]


def test_osquery_cli_flag_reaches_worker(bin_dir: Path, tmp_path: Path) -> None:
    fake_osqueryi(bin_dir, GROUPS_JSON)
    output = tmp_path / "p.zip"
    assert (
        main(["--artifacts", "users.groups", "--osquery", "--output", str(output)]) == 0
    )
    with zipfile.ZipFile(output) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        rows = json.loads(archive.read("artifacts/users.groups.json"))["rows"]
    assert manifest["artifacts"][0]["sources"][0].startswith("osqueryi:")
    assert [row["groupname"] for row in rows] == ["root", "sudo"]


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("12", "integer", 12),
        ("x", "integer", None),
        ("18446744073709551615", "bigint", "18446744073709551615"),
        ("1", "boolean", True),
        ("0", "boolean", False),
        ("", "text", None),
        ("1.5", "double", 1.5),
        ("eth0", "text", "eth0"),
    ],
)
def test_osquery_convert_cases(value: str, kind: str, expected: object) -> None:
    assert convert(value, kind) == expected


def test_osquery_parse_keeps_unknown_columns_as_text() -> None:
    load_collectors()
    rows = parse_osqueryi_json("system.uptime", b'[{"days": "1", "extra": "7"}]')
    assert rows == [{"days": 1, "extra": "7"}]
