"""Forensics packages and suspicious-file zips, built at test time like an agent."""

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pyzipper

# The antivirus test string, stored reversed so that no scanner flags the
# repository; `eicar()` turns it round at test time.
_EICAR_REVERSED = (
    "*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X"
)


def eicar() -> bytes:
    return _EICAR_REVERSED[::-1].encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifact(
    name: str,
    rows: list[dict[str, Any]] | None = None,
    *,
    status: str = "ok",
    error: Any = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Describe one artifact for `package_bytes`."""
    return {
        "name": name,
        "status": status,
        "rows": rows,
        "error": error,
        "reason": reason,
    }


DEFAULT_ARTIFACTS = [
    artifact(
        "network.arp_cache",
        [
            {"address": "10.0.0.1", "mac": "02:42:ac:11:00:01", "interface": "eth0"},
            {"address": "10.0.0.7", "mac": "02:42:ac:11:00:07", "interface": "eth0"},
        ],
    ),
    artifact(
        "users.login_history",
        status="error",
        error={"type": "FileNotFoundError", "errno": 2, "message": "/var/log/wtmp"},
    ),
    artifact("software.prefetch", status="unsupported", reason="not windows"),
]


def artifact_members(name: str, rows: list[dict[str, Any]]) -> dict[str, bytes]:
    """Return the JSON and CSV members of one artifact."""
    columns = list(rows[0]) if rows else []
    document = {
        "artifact": name,
        "schema_version": "1",
        "columns": [{"name": column, "type": "text"} for column in columns],
        "rows": rows,
    }
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return {
        f"artifacts/{name}.json": json.dumps(document).encode(),
        f"artifacts/{name}.csv": text.getvalue().encode(),
    }


def listing(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "size": len(data), "sha256": sha256(data)}


def package_members(
    artifacts: list[dict[str, Any]],
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Return every member but the manifest, and the manifest that lists them."""
    members: dict[str, bytes] = {}
    entries = []
    for item in artifacts:
        files: dict[str, bytes] = {}
        if item["rows"] is not None:
            files = artifact_members(item["name"], item["rows"])
        members.update(files)
        entries.append(
            {
                "name": item["name"],
                "status": item["status"],
                "row_count": len(item["rows"] or []),
                "started_utc": "2026-12-04T15:30:01.200000Z",
                "duration_ms": 4,
                "files": [listing(path, data) for path, data in files.items()],
                "warnings": [],
                "error": item["error"],
                **({"reason": item["reason"]} if item["reason"] else {}),
            }
        )
    log = b'{"ts": "2026-12-04T15:30:01Z", "level": "info", "message": "start"}\n'
    members["collection.log.jsonl"] = log
    manifest = {
        "schema_version": "1.0",
        "package_id": "6f0c9f8e-2d1b-4b7e-9a51-3c7e0d2f4a11",
        "request_id": "server-task-1",
        "collector": {"name": "agent", "version": "0.4.0", "python": "3.11.2"},
        "endpoint": {"hostname": "web01", "os": {"family": "linux"}},
        "started_utc": "2026-12-04T15:30:01.123456Z",
        "finished_utc": "2026-12-04T15:30:03.987654Z",
        "artifacts": entries,
        "iocs": [],
        "members": [listing("collection.log.jsonl", log)],
    }
    return members, manifest


def write_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def package_bytes(
    artifacts: list[dict[str, Any]] | None = None,
    *,
    edit_manifest: Callable[[dict[str, Any]], None] | None = None,
    edit_members: Callable[[dict[str, bytes]], None] | None = None,
    extra: list[tuple[str | zipfile.ZipInfo, bytes]] = (),
) -> bytes:
    """Build a package zip in the agent's format.

    `edit_manifest` and `edit_members` change the manifest or the members
    after the manifest was written, to make a tampered or broken package.
    `extra` adds raw members that the manifest does not list.
    """
    members, manifest = package_members(artifacts or DEFAULT_ARTIFACTS)
    if edit_manifest:
        edit_manifest(manifest)
    if edit_members:
        edit_members(members)
    entries = list(members.items()) + list(extra)
    entries.append(("manifest.json", json.dumps(manifest).encode()))
    return write_zip(entries)


def file_metadata(content: bytes, **changes: Any) -> dict[str, Any]:
    metadata = {
        "original_path": "/tmp/.x/dropper",
        "original_name": "dropper",
        "size": len(content),
        "sha256": sha256(content),
        "sha1": hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        "md5": hashlib.md5(content, usedforsecurity=False).hexdigest(),
        "mtime_utc": "2026-12-04T15:00:00Z",
        "changed_during_read": False,
    }
    metadata.update(changes)
    return metadata


def collected_file_bytes(
    content: bytes,
    *,
    metadata: dict[str, Any] | None = None,
    password: bytes = b"infected",
    content_name: str | None = None,
    extra: list[tuple[str, bytes]] = (),
) -> bytes:
    """Build a suspicious-file zip: `<sha256>.bin` and metadata.json, AES-encrypted."""
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password)
        archive.writestr(content_name or f"{sha256(content)}.bin", content)
        metadata_json = json.dumps(metadata or file_metadata(content))
        archive.writestr("metadata.json", metadata_json)
        for name, data in extra:
            archive.writestr(name, data)
    return buffer.getvalue()
