"""Storage of forensics zips: a local incoming folder, then Django's storage.

An upload is streamed into a temporary file under `<MEDIA_ROOT>/forensics/
incoming`, hashed on the way, verified there, and only then moved into the
default storage under a name made from its SHA-256. On the default
FileSystemStorage the move is a rename, so a large package is never copied
again or held in memory.
"""

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


class TooLarge(Exception):
    """The request body grew past the upload limit while it was read."""


class LocalFile(File):
    """A file on local disk, which FileSystemStorage moves instead of copying."""

    def __init__(self, file: IO[bytes], path: Path) -> None:
        super().__init__(file, name=path.name)
        self.path = path

    def temporary_file_path(self) -> str:
        return str(self.path)


def incoming_dir() -> Path:
    directory = Path(settings.MEDIA_ROOT) / "forensics" / "incoming"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def save_stream(stream: IO[bytes], limit: int) -> tuple[Path, str, int]:
    """Copy `stream` into a new incoming file in chunks; return path, SHA-256, size.

    Raises TooLarge as soon as more than `limit` bytes arrive. On any error the
    partial file is removed.
    """
    handle, name = tempfile.mkstemp(dir=incoming_dir(), suffix=".part")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(handle, "wb") as target:
            while chunk := stream.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"more than {limit} bytes")
                digest.update(chunk)
                target.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


def copy_to_incoming(source: Path) -> tuple[Path, str, int]:
    """Copy a local file into the incoming folder, as an upload would arrive."""
    with open(source, "rb") as stream:
        return save_stream(stream, limit=os.path.getsize(source))


def package_name(sha256: str) -> str:
    return f"forensics/packages/{sha256[:2]}/{sha256}.zip"


def collected_file_name(sha256: str) -> str:
    return f"forensics/files/{sha256[:2]}/{sha256}.zip"


def store(path: Path, name: str) -> tuple[str, bool]:
    """Move the verified zip at `path` into storage as `name`.

    Returns `name` and whether this call created it. When `name` exists
    already, it contains the same bytes because the name is their SHA-256, so
    nothing is stored again.
    """
    if default_storage.exists(name):
        return name, False
    with open(path, "rb") as source:
        stored = default_storage.save(name, LocalFile(source, path))
    if stored != name:
        # A concurrent upload of the same bytes saved `name` first, and storage
        # gave this copy a free name instead. The copy is redundant.
        logger.info("forensics zip stored twice name=%s copy=%s", name, stored)
        delete_stored(stored)
        return name, False
    return stored, True


def delete_stored(name: str) -> None:
    """Delete one stored zip, logging rather than raising if storage fails."""
    try:
        default_storage.delete(name)
    except OSError:
        logger.exception("failed to delete stored forensics zip name=%s", name)
