"""Collect a suspicious file into an AES zip with the password `infected`.

The zip contains the content as `<sha256>.bin`, never under its original name,
and `metadata.json` with the original path, size, times, owner, mode, the
SHA-256, SHA-1 and MD5, and whether the file changed while it was read. The
password is the malware-exchange convention that stops antivirus and mail
gateways from acting on the sample; it is not meant to keep it secret.
"""

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyzipper

from agent.forensics.model import iso_utc, now_utc
from agent.forensics.package import file_digest
from agent.forensics.safeio import (
    NotRegularFile,
    TooLarge,
    allocated_bytes,
    decode_lossless,
    open_regular,
)

MIB = 1024 * 1024
DEFAULT_MAX_SIZE = 100 * MIB
HARD_MAX_SIZE = 1024 * MIB
PASSWORD = b"infected"
CHUNK = MIB
# Pseudo filesystems whose files hang or never end when read.
EXCLUDED_ROOTS = ("/proc", "/sys", "/dev")
MAX_SEARCHED_FILES = 200_000


class FileRejected(Exception):
    """The file cannot be collected: not regular, too large, changing, missing."""


def _hash_fd(fd: int, limit: int, sink: Any = None) -> tuple[dict[str, str], int]:
    digests = {"sha256": hashlib.sha256(), "sha1": hashlib.sha1(), "md5": hashlib.md5()}  # noqa: S324 - MD5/SHA-1 identify samples, they protect nothing.
    os.lseek(fd, 0, os.SEEK_SET)
    size = 0
    while size <= limit:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            break
        size += len(chunk)
        for digest in digests.values():
            digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
    return {name: digest.hexdigest() for name, digest in digests.items()}, size


def _owner(status: os.stat_result) -> str | None:
    try:
        import pwd

        return pwd.getpwuid(status.st_uid).pw_name
    except (ImportError, KeyError):
        return None


def file_metadata(path: str, status: os.stat_result) -> dict[str, Any]:
    """Describe a file's path, size, times, owner and mode for metadata.json."""
    raw_path = os.fsencode(path)
    birth = getattr(status, "st_birthtime", None)
    return {
        **decode_lossless(raw_path, "original_path"),
        **decode_lossless(os.path.basename(raw_path), "original_name"),
        "size": status.st_size,
        "allocated_bytes": allocated_bytes(status),
        "mtime_utc": iso_utc(status.st_mtime),
        "atime_utc": iso_utc(status.st_atime),
        "ctime_utc": iso_utc(status.st_ctime),
        "btime_utc": iso_utc(birth) if birth else None,
        "uid": status.st_uid,
        "gid": status.st_gid,
        "owner": _owner(status),
        "mode": stat.filemode(status.st_mode),
        "mode_octal": oct(stat.S_IMODE(status.st_mode)),
        "inode": str(status.st_ino),
    }


def _same(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)


def collect_file(
    path: str,
    output_dir: Path,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    reason: str | None = None,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write `path` into `<output_dir>/<sha256>.zip` and describe the result.

    Reads the file twice from one descriptor: once to learn its SHA-256, which
    names the zip members, and once into the zip while hashing again. Raises
    FileRejected when the file is not a regular file, exceeds `max_size`,
    cannot be opened, or keeps changing between the two reads.
    """
    if not 0 < max_size <= HARD_MAX_SIZE:
        raise FileRejected(f"max_size {max_size} must be between 1 and {HARD_MAX_SIZE}")
    try:
        fd, before = open_regular(path, max_size)
    except NotRegularFile as error:
        raise FileRejected(
            f"{path}: {error}; only regular files are collected"
        ) from error
    except TooLarge as error:
        raise FileRejected(f"{path}: {error}; raise max_size to collect it") from error
    except OSError as error:
        raise FileRejected(f"{path}: cannot open: {error.strerror or error}") from error
    try:
        return _collect_open_file(
            path, fd, before, output_dir, max_size, reason, context
        )
    finally:
        os.close(fd)


def _collect_open_file(
    path: str,
    fd: int,
    before: os.stat_result,
    output_dir: Path,
    max_size: int,
    reason: str | None,
    context: dict[str, Any] | None,
) -> dict[str, Any]:
    started = now_utc()
    hashes, size = _hash_fd(fd, max_size)
    if size > max_size:
        raise FileRejected(f"{path}: grew past max_size {max_size} while reading")
    sha256 = hashes["sha256"]
    target = output_dir / f"{sha256}.zip"
    partial = output_dir / f"{sha256}.zip.partial"
    with pyzipper.AESZipFile(
        partial, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(PASSWORD)
        with archive.open(f"{sha256}.bin", "w", force_zip64=True) as member:
            second, second_size = _hash_fd(fd, max_size, member)
        after = os.fstat(fd)
        changed = second != hashes or second_size != size or not _same(before, after)
        if second["sha256"] != sha256:
            archive.close()
            partial.unlink(missing_ok=True)
            raise FileRejected(
                f"{path}: content changed while it was read; retry later"
            )
        metadata = {
            **file_metadata(path, before),
            **hashes,
            "changed_during_read": changed,
            "collected_utc": started,
            "reason": reason,
            **(context or {}),
        }
        archive.writestr("metadata.json", json.dumps(metadata, indent=2).encode())
    os.replace(partial, target)
    zip_sha256, zip_size = file_digest(target)
    return {
        "status": "collected",
        "sha256": sha256,
        "size": size,
        "stored_as": target.name,
        "zip_path": str(target),
        "zip_sha256": zip_sha256,
        "zip_size": zip_size,
        "metadata": metadata,
    }


def inspect_file(path: str, cap: int, display: str | None = None) -> dict[str, Any]:
    """Hash one file if it is regular and within `cap`, else give the reason."""
    shown = display or path
    try:
        fd, _status = open_regular(path, cap)
    except NotRegularFile as error:
        return {"path": shown, "status": "skipped", "reason": str(error)}
    except TooLarge as error:
        return {
            "path": shown,
            "status": "skipped",
            "reason": str(error),
            "allocated_bytes": error.allocated,
        }
    except OSError as error:
        return {"path": shown, "status": "error", "reason": str(error)}
    try:
        hashes, size = _hash_fd(fd, cap)
    finally:
        os.close(fd)
    return {
        "path": shown,
        "status": "collected",
        "size": size,
        "sha256": hashes["sha256"],
    }


def walk_files(roots: Iterable[str], limit: int = MAX_SEARCHED_FILES) -> Iterator[str]:
    """Yield file paths under `roots`, not following links or entering /proc."""
    seen = 0
    stack = [str(root) for root in roots]
    while stack:
        folder = stack.pop()
        if folder.rstrip("/") in EXCLUDED_ROOTS or folder.startswith(
            tuple(r + "/" for r in EXCLUDED_ROOTS)
        ):
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        folders = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                folders.append(entry.path)
                continue
            seen += 1
            if seen > limit:
                return
            yield entry.path
        # Files of a folder come before its subfolders, which keep name order.
        stack.extend(reversed(folders))


def triage_tree(root: str, cap: int) -> list[dict[str, Any]]:
    """Inspect every file under `root`, with paths shown relative to it."""
    results = []
    for path in walk_files([root]):
        results.append(inspect_file(path, cap, os.path.relpath(path, root)))
    return results


def find_by_sha256(
    sha256: str, directories: Iterable[str], max_size: int
) -> str | None:
    """Return the first regular file under `directories` whose SHA-256 matches."""
    wanted = sha256.lower()
    for path in walk_files(directories):
        if inspect_file(path, max_size).get("sha256") == wanted:
            return path
    return None
