"""The collect_forensics and collect_file task handlers and the offline CLI."""

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import pyzipper

from agent.forensics import handlers  # noqa: F401 - registers the handlers.
from agent.forensics.cli import main
from agent.tasks import HANDLERS, TaskContext, TaskFailed


class RecordingUpload:
    """Stands in for the runner's upload: records each call and the zip's bytes."""

    def __init__(self) -> None:
        self.calls: list[tuple[Path, str]] = []
        self.contents: list[bytes] = []

    def __call__(self, path: Path, kind: str) -> dict[str, Any]:
        content = path.read_bytes()
        self.calls.append((path, kind))
        self.contents.append(content)
        sha256 = hashlib.sha256(content).hexdigest()
        return {"id": len(self.calls), "sha256": sha256, "size": len(content)}


def context(
    tmp_path: Path, task_type: str, upload: RecordingUpload | None
) -> TaskContext:
    return TaskContext(
        task_id=12, task_type=task_type, upload=upload, work_dir=tmp_path
    )


def test_handlers_registered() -> None:
    assert "collect_forensics" in HANDLERS
    assert "collect_file" in HANDLERS


def test_collect_forensics_uploads_package(tmp_path: Path) -> None:
    upload = RecordingUpload()
    result = HANDLERS["collect_forensics"](
        {"artifacts": ["system", "users.groups"], "server_utc": "2026-12-04T15:30:00Z"},
        context(tmp_path, "collect_forensics", upload),
    )
    assert len(upload.calls) == 1
    path, kind = upload.calls[0]
    sha256 = hashlib.sha256(upload.contents[0]).hexdigest()
    assert kind == "package"
    assert result["sha256"] == sha256
    assert not path.exists(), "the package stays on disk after its upload"
    assert result["uploaded"] is True
    assert result["upload"]["id"] == 1
    assert set(result["artifacts"]) == {
        "system.time",
        "system.uptime",
        "system.os_version",
        "system.drives",
        "users.groups",
    }
    with zipfile.ZipFile(io.BytesIO(upload.contents[0])) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["request_id"] == "12"
    assert manifest["clock"]["server_utc_at_dispatch"] == "2026-12-04T15:30:00Z"
    assert path.name.startswith("fp_")


def test_collect_forensics_without_upload(tmp_path: Path) -> None:
    result = HANDLERS["collect_forensics"](
        {"artifacts": ["system.time"]}, context(tmp_path, "collect_forensics", None)
    )
    assert result["uploaded"] is False
    assert (tmp_path / result["package"]).exists()


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"artifacts": "system"}, "must be a list"),
        ({"artifacts": ["nope"]}, "unknown artifact"),
        ({"timeout": -1}, "positive number"),
    ],
)
def test_collect_forensics_bad_parameters(
    tmp_path: Path, parameters: dict, message: str
) -> None:
    with pytest.raises(TaskFailed, match=message):
        HANDLERS["collect_forensics"](parameters, context(tmp_path, "x", None))


def test_collect_file_by_path_uploads_zip(tmp_path: Path) -> None:
    sample = tmp_path / "sample.exe"
    sample.write_bytes(b"MZ" + bytes(range(256)) * 8)
    work = tmp_path / "work"
    work.mkdir()
    upload = RecordingUpload()
    result = HANDLERS["collect_file"](
        {"path": str(sample), "reason": "detection 9"},
        context(work, "collect_file", upload),
    )
    sha256 = hashlib.sha256(sample.read_bytes()).hexdigest()
    assert result["sha256"] == sha256
    assert upload.calls == [(work / f"{sha256}.zip", "file")]
    assert hashlib.sha256(upload.contents[0]).hexdigest() == result["zip_sha256"]
    assert not (work / f"{sha256}.zip").exists()
    with pyzipper.AESZipFile(io.BytesIO(upload.contents[0])) as archive:
        archive.setpassword(b"infected")
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["task_id"] == 12
    assert metadata["reason"] == "detection 9"


def test_collect_file_by_sha256_search(tmp_path: Path) -> None:
    folder = tmp_path / "search" / "deep"
    folder.mkdir(parents=True)
    (folder / "other").write_bytes(b"other")
    (folder / "target").write_bytes(b"target content")
    sha256 = hashlib.sha256(b"target content").hexdigest()
    result = HANDLERS["collect_file"](
        {"sha256": sha256, "directories": [str(tmp_path / "search")]},
        context(tmp_path, "collect_file", None),
    )
    assert result["metadata"]["original_path"] == str(folder / "target")
    assert result["uploaded"] is False


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({}, "give parameter path"),
        ({"sha256": "a" * 64}, "directories must be"),
        (
            {"sha256": "a" * 64, "directories": ["/nonexistent-exec-dir"]},
            "no regular file",
        ),
        ({"path": "/etc/hostname", "max_size": "big"}, "positive integer"),
        ({"path": ""}, "non-empty string"),
    ],
)
def test_collect_file_bad_parameters(
    tmp_path: Path, parameters: dict, message: str
) -> None:
    with pytest.raises(TaskFailed, match=message):
        HANDLERS["collect_file"](parameters, context(tmp_path, "collect_file", None))


def test_collect_file_over_limit_fails(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(TaskFailed, match="size 2048 > cap 1024"):
        HANDLERS["collect_file"](
            {"path": str(big), "max_size": 1024},
            context(tmp_path, "collect_file", None),
        )


def test_cli_writes_package_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "offline.zip"
    assert (
        main(["--artifacts", "system,software.prefetch", "--output", str(output)]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert lines[0].split()[:2] == ["system.time", "ok"]
    assert lines[4].split()[:2] == ["software.prefetch", "unsupported"]
    assert "exists on Windows only" in lines[4]
    assert lines[5].startswith(f"package {output}")
    sha256 = lines[5].rsplit("sha256=", 1)[1]
    assert hashlib.sha256(output.read_bytes()).hexdigest() == sha256


def test_cli_rejects_unknown_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        main(["--artifacts", "network.nope", "--output", str(tmp_path / "x.zip")]) == 2
    )
    error = capsys.readouterr().err
    assert "unknown artifact(s) network.nope" in error
    assert "network.arp_cache" in error
    assert not (tmp_path / "x.zip").exists()


def test_cli_rejects_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["--output", str(tmp_path / "no" / "x.zip")]) == 2
    assert "does not exist" in capsys.readouterr().err
