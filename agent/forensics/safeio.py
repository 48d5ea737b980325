"""Bounded, non-blocking reads of files and commands that collectors rely on.

A collector must never hang on a FIFO or a device, follow a planted symlink,
or read a sparse file of terabytes. So every file read here is checked with
`lstat` first, opened with O_NOFOLLOW and O_NONBLOCK, and checked again with
`fstat` on the open descriptor. `read_text` resolves links of system files
such as /etc/os-release first, and the target must still be a regular file.
"""

import base64
import os
import shutil
import stat
import subprocess
from pathlib import Path

# Text sources (histories, crontabs, unit files) larger than this are read
# only up to it; the collector reports the truncation as a warning.
DEFAULT_READ_CAP = 32 * 1024 * 1024
COMMAND_TIMEOUT = 60.0

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
O_BINARY = getattr(os, "O_BINARY", 0)


class NotRegularFile(Exception):
    """The path is not a regular file (FIFO, device, socket, directory, link)."""


class TooLarge(Exception):
    """The file is larger than the caller's size cap."""

    def __init__(self, size: int, cap: int, allocated: int | None) -> None:
        super().__init__(f"size {size} > cap {cap}")
        self.size = size
        self.cap = cap
        self.allocated = allocated


def open_regular(
    path: str | Path, cap: int | None = None
) -> tuple[int, os.stat_result]:
    """Open a regular file for reading without following links or blocking.

    Returns the descriptor and its `fstat`. Raises NotRegularFile for anything
    else, TooLarge when `cap` is given and `st_size` exceeds it, and OSError
    for a missing or unreadable path.
    """
    before = os.lstat(path)
    if not stat.S_ISREG(before.st_mode):
        raise NotRegularFile(f"not a regular file ({stat.filemode(before.st_mode)})")
    if cap is not None and before.st_size > cap:
        raise TooLarge(before.st_size, cap, allocated_bytes(before))

    fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_BINARY)
    try:
        after = os.fstat(fd)
        # The path could have been swapped for a FIFO or another file between
        # lstat and open; the descriptor's own identity decides.
        same = (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
        if not stat.S_ISREG(after.st_mode) or not same:
            raise NotRegularFile("file was replaced while opening")
    except BaseException:
        os.close(fd)
        raise
    return fd, after


def allocated_bytes(status: os.stat_result) -> int | None:
    """Return the bytes a file occupies on disk, which shows sparseness."""
    blocks = getattr(status, "st_blocks", None)
    return None if blocks is None else blocks * 512


def read_capped(
    path: str | Path, cap: int = DEFAULT_READ_CAP, *, follow_links: bool = False
) -> tuple[bytes, bool]:
    """Read up to `cap` bytes of a regular file; return them and a truncated flag.

    With `follow_links`, a symlink is resolved first (system files such as
    /etc/os-release often are links), but its target must still be a regular
    file. Files that other users control are read with links refused.
    """
    if follow_links:
        path = os.path.realpath(path)
    fd, _status = open_regular(path)
    try:
        chunks = []
        remaining = cap + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return data[:cap], len(data) > cap


def read_text(path: str | Path, cap: int = DEFAULT_READ_CAP) -> str:
    """Read a system text file, following links, replacing bytes that are not UTF-8."""
    data, _truncated = read_capped(path, cap, follow_links=True)
    return data.decode("utf-8", errors="replace")


def decode_lossless(data: bytes, column: str) -> dict[str, str]:
    """Decode bytes for `column`, adding `<column>_b64` when decoding lost bytes."""
    try:
        return {column: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {
            column: data.decode("utf-8", errors="replace"),
            f"{column}_b64": base64.b64encode(data).decode("ascii"),
        }


def run_command(
    argv: list[str], timeout: float = COMMAND_TIMEOUT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a native tool found on PATH and return its output as bytes.

    Raises FileNotFoundError when the tool is missing and
    subprocess.TimeoutExpired when it runs longer than `timeout` seconds
    (the tool is killed first).
    """
    program = shutil.which(argv[0])
    if program is None:
        raise FileNotFoundError(f"{argv[0]} not found on PATH")
    return subprocess.run(
        [program, *argv[1:]],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
        env=env,
    )


def list_dir(path: str | Path) -> list[str]:
    """Return the sorted names in a directory, or [] when it is missing."""
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []
