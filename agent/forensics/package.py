"""Write a forensics package: a zip of per-artifact JSON and CSV plus a manifest.

The zip is written to disk member by member while each member is hashed, so
a package never has to fit in memory. `manifest.json` comes last and lists
every other member with its size and SHA-256; the zip's own SHA-256 is
computed after closing and returned with the path.
"""

import csv
import getpass
import hashlib
import json
import os
import platform
import re
import socket
import sys
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from agent import __version__
from agent.forensics.model import (
    ARTIFACTS,
    COLLECTOR_VERSION,
    FAILED,
    MACOS,
    OK,
    PARTIAL,
    SCHEMA_VERSION,
    WINDOWS,
    current_platform,
    iso_utc,
    now_utc,
)
from agent.forensics.runner import ArtifactResult

# A cell starting with one of these is run as a formula by spreadsheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# C0 control characters other than tab, LF and CR, which CSV quoting handles.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass
class Package:
    """A written package: where it is, its SHA-256 and size, and its manifest."""

    path: Path
    sha256: str
    size: int
    manifest: dict[str, Any]


class HashingWriter:
    """A text sink that encodes to UTF-8, hashes and counts what it writes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.digest.update(data)
        self.size += len(data)
        self.stream.write(data)
        return len(text)


def typed_value(value: Any, kind: str) -> Any:
    """Coerce a collector's value to the column's JSON type; None stays None."""
    if value is None:
        return None
    if kind == "integer":
        return int(value)
    if kind == "bigint":
        return str(int(value)) if not isinstance(value, str) else value
    if kind == "boolean":
        return bool(value)
    if kind == "double":
        return float(value)
    if kind == "json":
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def typed_row(
    row: dict[str, Any], columns: list[tuple[str, str]]
) -> tuple[dict[str, Any], list[str]]:
    """Coerce a row to its columns' types; a value that does not fit becomes None.

    Returns the typed row and the names of the columns whose value was dropped.
    """
    typed, dropped = {}, []
    for name, kind in columns:
        try:
            typed[name] = typed_value(row.get(name), kind)
        except (TypeError, ValueError):
            typed[name] = None
            dropped.append(name)
    return typed, dropped


def csv_cell(value: Any) -> str:
    """Render a value for a CSV cell that spreadsheets cannot run as a formula.

    Strings starting with = + - @ tab or CR get a leading apostrophe, and
    control characters become `\\xNN` escapes. Numbers stay as they are.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = CONTROL_CHARACTERS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if text.startswith(FORMULA_PREFIXES):
        text = "'" + text
    return text


def artifact_columns(name: str, rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Return the schema's columns plus, as json, any extra keys the rows carry."""
    columns = list(ARTIFACTS[name].columns)
    known = {column for column, _kind in columns}
    extra = sorted({key for row in rows for key in row} - known)
    return columns + [(key, "json") for key in extra]


class PackageWriter:
    """Stream artifacts into a zip and finish it with the manifest."""

    def __init__(self, output: Path, manifest: dict[str, Any]) -> None:
        self.output = output
        self.partial_path = output.with_name(output.name + ".partial")
        self.manifest = manifest
        self.log_lines: list[str] = []
        self.zip = zipfile.ZipFile(
            self.partial_path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True
        )

    def log(self, level: str, artifact: str | None, message: str) -> None:
        record = {
            "ts": now_utc(),
            "level": level,
            "artifact": artifact,
            "message": message,
        }
        self.log_lines.append(json.dumps(record, ensure_ascii=False))

    def _member(self, path: str) -> tuple[IO[bytes], HashingWriter]:
        stream = self.zip.open(path, "w", force_zip64=True)
        return stream, HashingWriter(stream)

    def _close_member(self, path: str, stream: IO[bytes], sink: HashingWriter) -> dict:
        stream.close()
        return {"path": path, "size": sink.size, "sha256": sink.digest.hexdigest()}

    def add_artifact(self, result: ArtifactResult) -> dict[str, Any]:
        """Write one artifact's JSON and CSV and return its manifest entry."""
        files = []
        if result.status in (OK, PARTIAL):
            columns = artifact_columns(result.name, result.rows)
            json_file, dropped = self._write_json(result, columns)
            files.append(json_file)
            files.append(self._write_csv(result, columns))
            if dropped:
                result.warnings.append(
                    f"{dropped} value(s) did not fit their column type and are null"
                )
        error = result.error if result.status in FAILED else None
        if result.status in FAILED and error is None:
            error = {"type": "Error", "errno": None, "message": result.reason or ""}
        entry = {
            "name": result.name,
            "status": result.status,
            "row_count": len(result.rows),
            "started_utc": result.started_utc,
            "duration_ms": result.duration_ms,
            "sources": result.sources,
            "files": files,
            "warnings": result.warnings,
            "error": error,
            "reason": result.reason,
        }
        self.manifest["artifacts"].append(entry)
        detail = (error or {}).get("message") or result.reason or ""
        self.log(
            "info" if error is None else "error",
            result.name,
            f"status={result.status} rows={len(result.rows)} {detail}".strip(),
        )
        for warning in result.warnings:
            self.log("warning", result.name, warning)
        return entry

    def _write_json(
        self, result: ArtifactResult, columns: list[tuple[str, str]]
    ) -> tuple[dict, int]:
        path = f"artifacts/{result.name}.json"
        stream, sink = self._member(path)
        header = {
            "artifact": result.name,
            "schema_version": SCHEMA_VERSION,
            "columns": [{"name": name, "type": kind} for name, kind in columns],
        }
        sink.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "rows": [')
        dropped = 0
        for index, row in enumerate(result.rows):
            typed, failed = typed_row(row, columns)
            dropped += len(failed)
            sink.write(
                ("," if index else "") + "\n" + json.dumps(typed, ensure_ascii=False)
            )
        sink.write("\n]}\n")
        return self._close_member(path, stream, sink), dropped

    def _write_csv(
        self, result: ArtifactResult, columns: list[tuple[str, str]]
    ) -> dict:
        path = f"artifacts/{result.name}.csv"
        stream, sink = self._member(path)
        writer = csv.writer(sink, lineterminator="\r\n")
        writer.writerow([name for name, _kind in columns])
        for row in result.rows:
            typed, _failed = typed_row(row, columns)
            writer.writerow([csv_cell(typed[name]) for name, _kind in columns])
        return self._close_member(path, stream, sink)

    def finish(self) -> Package:
        """Write the log and the manifest, close the zip and hash it."""
        self.manifest["finished_utc"] = now_utc()
        stream, sink = self._member("collection.log.jsonl")
        for line in self.log_lines:
            sink.write(line + "\n")
        self.manifest["members"].append(
            self._close_member("collection.log.jsonl", stream, sink)
        )
        manifest_bytes = json.dumps(self.manifest, indent=2, ensure_ascii=False)
        self.zip.writestr("manifest.json", manifest_bytes.encode("utf-8"))
        self.zip.close()
        os.replace(self.partial_path, self.output)
        return Package(self.output, *file_digest(self.output), self.manifest)

    def abort(self) -> None:
        self.zip.close()
        self.partial_path.unlink(missing_ok=True)


def file_digest(path: Path) -> tuple[str, int]:
    """Return a file's SHA-256 and size, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify_package(path: Path) -> list[str]:
    """Check a package against its manifest; return the problems found.

    Every member but manifest.json must be listed exactly once with its size
    and SHA-256, and every listed member must exist.
    """
    problems = []
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        listed = [f for entry in manifest["artifacts"] for f in entry["files"]]
        listed += manifest["members"]
        seen = set()
        for member in listed:
            if member["path"] in seen:
                problems.append(f"{member['path']}: listed twice")
            seen.add(member["path"])
            if member["path"] not in names:
                problems.append(f"{member['path']}: listed but missing")
                continue
            data = archive.read(member["path"])
            if len(data) != member["size"]:
                problems.append(
                    f"{member['path']}: size {len(data)} != {member['size']}"
                )
            if hashlib.sha256(data).hexdigest() != member["sha256"]:
                problems.append(
                    f"{member['path']}: SHA-256 does not match the manifest"
                )
        for name in names:
            if name != "manifest.json" and name not in seen:
                problems.append(f"{name}: present but not in the manifest")
        if len(names) != len(set(names)):
            problems.append("duplicate member names")
    return problems


def write_package(
    results: Iterable[ArtifactResult],
    output: Path,
    *,
    agent_id: str | None = None,
    request_id: str | None = None,
    server_utc_at_dispatch: str | None = None,
) -> Package:
    """Write every result into the package at `output`; return it with its hash."""
    manifest = new_manifest(agent_id, request_id, server_utc_at_dispatch)
    writer = PackageWriter(output, manifest)
    try:
        for result in results:
            writer.add_artifact(result)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def new_manifest(
    agent_id: str | None, request_id: str | None, server_utc_at_dispatch: str | None
) -> dict[str, Any]:
    """Start a manifest: ids, collector, endpoint, user and start time."""
    started = now_utc()
    return {
        "schema_version": SCHEMA_VERSION,
        "package_id": str(uuid.uuid4()),
        "request_id": request_id,
        "collector": {
            "name": "exec-agent",
            "version": __version__,
            "python": platform.python_version(),
            "deps": {"psutil": psutil.__version__},
            "artifact_set": COLLECTOR_VERSION,
        },
        "endpoint": endpoint_description(agent_id),
        "run_as": run_as(),
        "started_utc": started,
        "finished_utc": None,
        "clock": {
            "agent_utc_at_start": started,
            "server_utc_at_dispatch": server_utc_at_dispatch,
        },
        "artifacts": [],
        "iocs": [],
        "members": [],
    }


def machine_id() -> str | None:
    """Return /etc/machine-id, or Windows' MachineGuid; None where neither exists."""
    if current_platform() == WINDOWS:
        try:
            import winreg

            key = winreg.OpenKey(  # type: ignore[attr-defined]
                winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined]
                r"SOFTWARE\Microsoft\Cryptography",
            )
            return str(winreg.QueryValueEx(key, "MachineGuid")[0])  # type: ignore[attr-defined]
        except OSError:
            return None
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path, encoding="ascii", errors="replace") as stream:
                return stream.read(128).strip() or None
        except OSError:
            continue
    return None


def endpoint_description(agent_id: str | None) -> dict[str, Any]:
    """Describe this endpoint for the manifest without any network lookup."""
    from datetime import datetime

    local = datetime.now().astimezone()
    offset = local.strftime("%z")
    uname = platform.uname()
    try:
        boot = iso_utc(psutil.boot_time())
    except (OSError, RuntimeError):
        boot = None
    name, version = os_name_version()
    return {
        "agent_id": agent_id,
        "hostname": socket.gethostname(),
        # The FQDN would need a DNS lookup, which a collection must not make.
        "fqdn": None,
        "machine_id": machine_id(),
        "os": {
            "family": current_platform(),
            "name": name,
            "version": version,
            "kernel": uname.release,
            "arch": uname.machine,
        },
        "timezone": {
            "name": local.tzname(),
            "utc_offset": f"{offset[:3]}:{offset[3:]}",
        },
        "boot_time_utc": boot,
    }


def os_name_version() -> tuple[str, str]:
    """Return the operating system's product name and version."""
    family = current_platform()
    if family == WINDOWS:
        release, version, _csd, _ptype = platform.win32_ver()
        return f"Windows {release}", version
    if family == MACOS:
        return "macOS", platform.mac_ver()[0]
    try:
        values = platform.freedesktop_os_release()
    except OSError:
        return platform.system(), platform.release()
    return values.get("NAME", "Linux"), values.get("VERSION_ID", "")


def run_as() -> dict[str, Any]:
    """Describe the account the collection ran as, and whether it was elevated."""
    notes = []
    if hasattr(os, "geteuid"):
        uid: int | None = os.geteuid()
        elevated = uid == 0
        try:
            with open(
                "/proc/self/status", encoding="ascii", errors="replace"
            ) as stream:
                for line in stream:
                    if line.startswith("CapEff:"):
                        notes.append(f"effective capabilities {line.split()[1]}")
        except OSError:
            pass
    else:
        uid = None
        try:
            import ctypes

            elevated = bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            elevated = False
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    if not elevated:
        notes.append("not elevated: other users' data may be missing")
    return {
        "user": user,
        "uid": uid,
        "elevated": elevated,
        "notes": notes,
        "python_executable": sys.executable,
    }
