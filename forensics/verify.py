"""Verification of uploaded zips: forensics packages and suspicious-file zips.

Both uploads and `import_package` call these functions on a zip that is
already on local disk. They read member names, sizes and hashes, and never
extract a member to the filesystem. A problem raises `Rejected` with a message
that names the member or manifest field and states what is wrong.
"""

import hashlib
import json
import re
import stat
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyzipper
from django.conf import settings

from forensics.choices import (
    ARTIFACT_FAILED,
    ARTIFACT_WITH_ROWS,
    ArtifactStatus,
    PackageStatus,
)

MANIFEST = "manifest.json"
# Members the manifest cannot list: itself and its optional signature.
UNLISTED = frozenset({MANIFEST, "manifest.sig"})
MANIFEST_MAX_BYTES = 16 * 1024 * 1024
METADATA = "metadata.json"
METADATA_MAX_BYTES = 1024 * 1024
MAX_MEMBERS = 100_000
# Members smaller than this may have any compression ratio, because a small
# file of repeated bytes compresses far better than 100:1 and is harmless.
RATIO_FLOOR_BYTES = 1024 * 1024
IOC_PASSWORD = b"infected"
CHUNK_BYTES = 1024 * 1024

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
SHA1_HEX = re.compile(r"^[0-9a-f]{40}$")
MD5_HEX = re.compile(r"^[0-9a-f]{32}$")
DRIVE = re.compile(r"^[A-Za-z]:")
IOC_CONTENT = re.compile(r"^([0-9a-f]{64})\.bin$")


class Rejected(ValueError):
    """The zip or its manifest failed verification, for the reason in the message."""


@dataclass(frozen=True)
class VerifiedArtifact:
    name: str
    status: str
    row_count: int
    error: str
    warnings: list[str]
    json_member: str
    csv_member: str
    sha256: str


@dataclass(frozen=True)
class VerifiedPackage:
    """The contents of a verified package's manifest, ready to store."""

    manifest: dict[str, Any]
    artifacts: list[VerifiedArtifact]
    collector_version: str
    started: datetime
    ended: datetime
    status: str


@dataclass(frozen=True)
class VerifiedFile:
    """The metadata of a verified suspicious-file zip, from its metadata.json."""

    metadata: dict[str, Any]
    original_path: str
    sha256: str
    sha1: str
    md5: str
    size: int
    changed_during_read: bool


def check_member_name(name: str) -> None:
    """Raise Rejected unless `name` is a plain relative path inside the zip.

    Absolute paths, drive letters, backslashes, `..`, `.` and empty segments
    would all let an extractor write outside its folder (zip-slip) or alias
    another member.
    """
    if not name or "\x00" in name:
        raise Rejected(f"member {name!r}: empty name or NUL byte in the name")
    if "\\" in name:
        raise Rejected(f"member {name!r}: backslash in the name; use '/'")
    if name.startswith("/"):
        raise Rejected(f"member {name!r}: absolute path; members must be relative")
    if DRIVE.match(name):
        raise Rejected(f"member {name!r}: drive letter; members must be relative")

    segments = name.removesuffix("/").split("/")
    if ".." in segments:
        raise Rejected(f"member {name!r}: '..' segment; members must stay inside")
    if any(segment in ("", ".") for segment in segments):
        raise Rejected(f"member {name!r}: empty or '.' segment in the path")


def check_members(infos: Iterable[zipfile.ZipInfo]) -> None:
    """Check every member's name, type and size against the zip-slip and bomb limits.

    Names are compared after Unicode normalization and case folding, because
    two names that differ only there land on one file on Windows and macOS.
    """
    max_total = settings.FORENSICS_MAX_UNCOMPRESSED_BYTES
    max_ratio = settings.FORENSICS_MAX_COMPRESSION_RATIO
    seen: set[str] = set()
    total = 0
    for count, info in enumerate(infos, start=1):
        if count > MAX_MEMBERS:
            raise Rejected(f"more than {MAX_MEMBERS} members in the zip")
        check_member_name(info.filename)
        folded = unicodedata.normalize("NFC", info.filename).casefold()
        if folded in seen:
            raise Rejected(f"member {info.filename!r}: duplicate name")
        seen.add(folded)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise Rejected(f"member {info.filename!r}: symbolic link")

        total += info.file_size
        if total > max_total:
            raise Rejected(
                f"uncompressed size exceeds the limit of {max_total} bytes "
                f"(at member {info.filename!r})"
            )
        compressed = max(info.compress_size, 1)
        ratio = info.file_size / compressed
        if info.file_size > RATIO_FLOOR_BYTES and ratio > max_ratio:
            raise Rejected(
                f"member {info.filename!r}: compression ratio {ratio:.0f}:1 "
                f"exceeds the limit of {max_ratio}:1"
            )


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise Rejected(f"not a readable zip file ({error})") from None


def member_digest(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int]:
    """Return the SHA-256 and byte count of one member, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(CHUNK_BYTES):
                size += len(chunk)
                digest.update(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise Rejected(f"member {info.filename!r}: corrupt ({error})") from None
    except (NotImplementedError, RuntimeError) as error:
        raise Rejected(f"member {info.filename!r}: cannot be read ({error})") from None
    return digest.hexdigest(), size


def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = archive.getinfo(MANIFEST)
    except KeyError:
        raise Rejected(f"{MANIFEST}: missing from the zip") from None
    if info.file_size > MANIFEST_MAX_BYTES:
        raise Rejected(
            f"{MANIFEST}: {info.file_size} bytes, over the limit of "
            f"{MANIFEST_MAX_BYTES} bytes"
        )
    try:
        manifest = json.loads(archive.read(info))
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise Rejected(f"{MANIFEST}: corrupt ({error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Rejected(f"{MANIFEST}: invalid JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise Rejected(f"{MANIFEST}: must be a JSON object")
    return manifest


def require(mapping: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """Return mapping[key], raising Rejected if it is missing or of another type."""
    if key not in mapping or mapping[key] is None:
        raise Rejected(f"{MANIFEST}: {where}{key}: missing")
    value = mapping[key]
    # bool is a subclass of int, but true is no row count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Rejected(
            f"{MANIFEST}: {where}{key}: expected {kind.__name__}, "
            f"got {type(value).__name__}"
        )
    return value


def parse_utc(value: str, where: str) -> datetime:
    if not UTC_TIME.match(value):
        raise Rejected(
            f"{MANIFEST}: {where}: invalid time {value!r}; use UTC ISO 8601 such "
            "as 2026-12-04T15:30:01.123456Z"
        )
    return datetime.fromisoformat(value)


def describe_error(error: Any) -> str:
    """Return an artifact's error, which the manifest gives as text or an object."""
    if isinstance(error, dict):
        kind = error.get("type") or "error"
        message = error.get("message") or ""
        errno = error.get("errno")
        suffix = f" [errno {errno}]" if errno is not None else ""
        return f"{kind}{suffix}: {message}" if message else f"{kind}{suffix}"
    return str(error)


def listed_files(entries: Any, where: str) -> list[dict[str, Any]]:
    """Check a manifest list of {path, size, sha256} and return it."""
    if not isinstance(entries, list):
        raise Rejected(f"{MANIFEST}: {where}: expected a list")
    for index, entry in enumerate(entries):
        at = f"{where}[{index}]."
        if not isinstance(entry, dict):
            raise Rejected(f"{MANIFEST}: {where}[{index}]: expected an object")
        require(entry, "path", str, at)
        size = require(entry, "size", int, at)
        sha256 = require(entry, "sha256", str, at)
        if size < 0:
            raise Rejected(f"{MANIFEST}: {at}size: negative")
        if not SHA256_HEX.match(sha256.lower()):
            raise Rejected(f"{MANIFEST}: {at}sha256: not 64 hex digits")
    return entries


def parse_artifact(entry: Any, index: int) -> tuple[VerifiedArtifact, list[dict]]:
    """Check one manifest artifact; return it and its listed files."""
    where = f"artifacts[{index}]."
    if not isinstance(entry, dict):
        raise Rejected(f"{MANIFEST}: artifacts[{index}]: expected an object")
    name = require(entry, "name", str, where)
    status = require(entry, "status", str, where)
    if status not in ArtifactStatus.values:
        raise Rejected(
            f"{MANIFEST}: {where}status: invalid value {status!r}; use one of "
            + ", ".join(ArtifactStatus.values)
        )
    row_count = 0
    if entry.get("row_count") is not None:
        row_count = require(entry, "row_count", int, where)
    if row_count < 0:
        raise Rejected(f"{MANIFEST}: {where}row_count: negative")

    error = entry.get("error")
    if status in ARTIFACT_FAILED and not error:
        raise Rejected(f"{MANIFEST}: {where}error: missing for status {status!r}")
    if status not in ARTIFACT_FAILED and error:
        raise Rejected(f"{MANIFEST}: {where}error: set although status is {status!r}")
    files = listed_files(entry.get("files", []), f"{where}files")

    json_files = [f for f in files if f["path"].endswith(".json")]
    csv_files = [f for f in files if f["path"].endswith(".csv")]
    if status in ARTIFACT_WITH_ROWS and (len(json_files) != 1 or len(csv_files) != 1):
        raise Rejected(
            f"{MANIFEST}: {where}files: an artifact with status {status!r} needs "
            "exactly one .json and one .csv file"
        )
    warnings = entry.get("warnings") or []
    artifact = VerifiedArtifact(
        name=name[:128],
        status=status,
        row_count=row_count,
        error=describe_error(error) if error else str(entry.get("reason") or ""),
        warnings=[str(warning) for warning in warnings]
        if isinstance(warnings, list)
        else [str(warnings)],
        json_member=json_files[0]["path"] if json_files else "",
        csv_member=csv_files[0]["path"] if csv_files else "",
        sha256=json_files[0]["sha256"].lower() if json_files else "",
    )
    return artifact, files


def package_status(artifacts: list[VerifiedArtifact]) -> str:
    statuses = {artifact.status for artifact in artifacts}
    if not statuses & (ARTIFACT_FAILED | {ArtifactStatus.PARTIAL}):
        return PackageStatus.COMPLETE
    if not statuses & ARTIFACT_WITH_ROWS:
        return PackageStatus.FAILED
    return PackageStatus.PARTIAL


def parse_manifest(
    manifest: dict[str, Any],
) -> tuple[VerifiedPackage, list[dict[str, Any]]]:
    """Check the manifest's fields; return the package and every listed file."""
    schema_version = require(manifest, "schema_version", str, "")
    if schema_version.split(".")[0] != "1":
        raise Rejected(
            f"{MANIFEST}: schema_version: unsupported {schema_version!r}; "
            "this server reads 1.x"
        )
    require(manifest, "package_id", str, "")
    collector = require(manifest, "collector", dict, "")
    collector_version = require(collector, "version", str, "collector.")
    require(manifest, "endpoint", dict, "")
    started = parse_utc(require(manifest, "started_utc", str, ""), "started_utc")
    ended = parse_utc(require(manifest, "finished_utc", str, ""), "finished_utc")
    if ended < started:
        raise Rejected(f"{MANIFEST}: finished_utc: before started_utc")

    artifacts = []
    listed = listed_files(manifest.get("members", []), "members")
    names: set[str] = set()
    for index, entry in enumerate(require(manifest, "artifacts", list, "")):
        artifact, files = parse_artifact(entry, index)
        if artifact.name in names:
            raise Rejected(
                f"{MANIFEST}: artifacts[{index}].name: duplicate {artifact.name!r}"
            )
        names.add(artifact.name)
        artifacts.append(artifact)
        listed.extend(files)

    package = VerifiedPackage(
        manifest=manifest,
        artifacts=artifacts,
        collector_version=collector_version[:64],
        started=started,
        ended=ended,
        status=package_status(artifacts),
    )
    return package, listed


def check_listed_files(archive: zipfile.ZipFile, listed: list[dict[str, Any]]) -> None:
    """Check that the manifest lists every member, and each one's size and SHA-256."""
    members = {info.filename: info for info in archive.infolist() if not info.is_dir()}
    paths = Counter(entry["path"] for entry in listed)
    duplicates = sorted(path for path, count in paths.items() if count > 1)
    if duplicates:
        raise Rejected(f"{MANIFEST}: lists {duplicates[0]!r} twice")
    unlisted = set(members) - set(paths) - UNLISTED
    if unlisted:
        raise Rejected(f"member {sorted(unlisted)[0]!r}: not listed in {MANIFEST}")

    for entry in listed:
        info = members.get(entry["path"])
        if info is None:
            raise Rejected(f"{MANIFEST}: lists {entry['path']!r}, missing from the zip")
        if info.flag_bits & 0x1:
            raise Rejected(f"member {info.filename!r}: encrypted; packages are not")
        sha256, size = member_digest(archive, info)
        if size != entry["size"]:
            raise Rejected(
                f"member {info.filename!r}: {size} bytes, expected "
                f"{entry['size']} from the manifest"
            )
        if sha256 != entry["sha256"].lower():
            raise Rejected(
                f"member {info.filename!r}: SHA-256 {sha256} does not match the "
                f"manifest's {entry['sha256']}"
            )


def verify_package(path: Path) -> VerifiedPackage:
    """Verify a forensics package zip on disk and return its manifest's contents.

    Checks member names (zip-slip), the zip-bomb limits, the manifest's fields,
    and that every member but the manifest is listed with its size and SHA-256.
    """
    with open_zip(path) as archive:
        check_members(archive.infolist())
        manifest = read_manifest(archive)
        package, listed = parse_manifest(manifest)
        check_listed_files(archive, listed)
    return package


def read_file_metadata(archive: pyzipper.AESZipFile, info: zipfile.ZipInfo) -> dict:
    if info.file_size > METADATA_MAX_BYTES:
        raise Rejected(f"{METADATA}: over the limit of {METADATA_MAX_BYTES} bytes")
    try:
        metadata = json.loads(archive.read(info, pwd=IOC_PASSWORD))
    except RuntimeError as error:
        raise Rejected(f"{METADATA}: cannot be decrypted ({error})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise Rejected(f"{METADATA}: corrupt ({error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Rejected(f"{METADATA}: invalid JSON ({error})") from None
    if not isinstance(metadata, dict):
        raise Rejected(f"{METADATA}: must be a JSON object")
    return metadata


def metadata_field(metadata: dict, key: str, pattern: re.Pattern[str]) -> str:
    value = metadata.get(key)
    if not isinstance(value, str) or not pattern.match(value.lower()):
        raise Rejected(f"{METADATA}: {key}: missing or not a hex digest")
    return value.lower()


def verify_collected_file(path: Path) -> VerifiedFile:
    """Verify a suspicious-file zip on disk without opening the file inside it.

    The zip must contain exactly `<sha256>.bin` and metadata.json, both
    encrypted with WinZip AES. The server decrypts and parses metadata.json
    only. It never decrypts the `.bin` member, so it checks the metadata's
    SHA-256 against the member's name and the size against the zip directory.
    No hash of the file itself is recomputed.
    """
    try:
        archive = pyzipper.AESZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise Rejected(f"not a readable zip file ({error})") from None

    with archive:
        infos = archive.infolist()
        check_members(infos)
        contents = [info for info in infos if IOC_CONTENT.match(info.filename)]
        metadata_infos = [info for info in infos if info.filename == METADATA]
        if len(infos) != 2 or len(contents) != 1 or len(metadata_infos) != 1:
            raise Rejected(
                "a suspicious-file zip must contain exactly <sha256>.bin and "
                f"{METADATA}; found {sorted(info.filename for info in infos)}"
            )
        for info in infos:
            if (
                not info.flag_bits & 0x1
                or getattr(info, "wz_aes_version", None) is None
            ):
                raise Rejected(
                    f"member {info.filename!r}: not AES-encrypted; use WinZip AES "
                    "with the password 'infected'"
                )
        metadata = read_file_metadata(archive, metadata_infos[0])

    content = contents[0]
    sha256 = metadata_field(metadata, "sha256", SHA256_HEX)
    if sha256 != content.filename.removesuffix(".bin"):
        raise Rejected(
            f"{METADATA}: sha256 {sha256} does not match the member "
            f"{content.filename!r}"
        )
    size = metadata.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size != content.file_size:
        raise Rejected(
            f"{METADATA}: size {size!r} does not match the member's "
            f"{content.file_size} bytes"
        )
    original_path = metadata.get("original_path")
    if not isinstance(original_path, str):
        raise Rejected(f"{METADATA}: original_path: missing or not text")

    return VerifiedFile(
        metadata=metadata,
        original_path=original_path,
        sha256=sha256,
        sha1=metadata_field(metadata, "sha1", SHA1_HEX),
        md5=metadata_field(metadata, "md5", MD5_HEX),
        size=size,
        changed_during_read=bool(metadata.get("changed_during_read", False)),
    )
