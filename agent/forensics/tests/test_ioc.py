"""Suspicious-file collection: AES zips, links, FIFOs, sparse files, odd names."""

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import pyzipper

from agent.forensics.ioc import (
    FileRejected,
    collect_file,
    find_by_sha256,
    triage_tree,
)
from agent.forensics.safeio import read_capped

MIB = 1024 * 1024


def test_triage_tree_fifo_sparse_and_regular(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    os.mkfifo(tmp_path / "a" / "evil.fifo")
    os.chmod(tmp_path / "a" / "evil.fifo", 0o644)
    with open(tmp_path / "a" / "lastlog", "wb") as stream:
        stream.truncate(1168000000292)
    (tmp_path / "a" / "b" / "ok.txt").write_bytes(b"hello\n")

    started = time.monotonic()
    results = triage_tree(str(tmp_path), 512 * MIB)

    assert time.monotonic() - started < 2
    assert results == [
        {
            "path": "a/evil.fifo",
            "status": "skipped",
            "reason": "not a regular file (prw-r--r--)",
        },
        {
            "path": "a/lastlog",
            "status": "skipped",
            "reason": "size 1168000000292 > cap 536870912",
            "allocated_bytes": 0,
        },
        {
            "path": "a/b/ok.txt",
            "status": "collected",
            "size": 6,
            "sha256": (
                "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
            ),
        },
    ]


def sample_content() -> bytes:
    # Built at test time so no sample bytes live in the repository.
    return b"exec-test-sample " + os.urandom(4096) + b"\x00\xff" * 100


def test_collect_file_zip_opens_with_infected(tmp_path: Path) -> None:
    content = sample_content()
    source = tmp_path / "dropper"
    source.write_bytes(content)
    output = tmp_path / "out"
    output.mkdir()

    result = collect_file(str(source), output, reason="rule 7")

    sha256 = hashlib.sha256(content).hexdigest()
    assert result["sha256"] == sha256
    assert result["stored_as"] == f"{sha256}.zip"
    zip_path = output / f"{sha256}.zip"
    assert hashlib.sha256(zip_path.read_bytes()).hexdigest() == result["zip_sha256"]
    with pyzipper.AESZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == sorted([f"{sha256}.bin", "metadata.json"])
        archive.setpassword(b"infected")
        stored = archive.read(f"{sha256}.bin")
        metadata = json.loads(archive.read("metadata.json"))
    assert hashlib.sha256(stored).hexdigest() == sha256
    assert metadata["original_path"] == str(source)
    assert metadata["size"] == len(content)
    assert metadata["sha1"] == hashlib.sha1(content, usedforsecurity=False).hexdigest()
    assert metadata["md5"] == hashlib.md5(content, usedforsecurity=False).hexdigest()
    assert metadata["changed_during_read"] is False
    assert metadata["reason"] == "rule 7"
    assert metadata["mode"] == "-rw-r--r--"
    assert metadata["owner"] == "root" or metadata["uid"] == os.getuid()
    assert metadata["mtime_utc"].endswith("Z")


def test_collect_file_needs_password(tmp_path: Path) -> None:
    source = tmp_path / "sample"
    source.write_bytes(sample_content())
    result = collect_file(str(source), tmp_path)
    with pyzipper.AESZipFile(result["zip_path"]) as archive:
        with pytest.raises(RuntimeError, match="password"):
            archive.read(f"{result['sha256']}.bin")


def test_collect_file_refuses_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.write_bytes(b"data")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(FileRejected, match="not a regular file"):
        collect_file(str(link), tmp_path)
    assert list(tmp_path.glob("*.zip")) == []


def test_collect_file_refuses_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(FileRejected, match="not a regular file"):
        collect_file(str(fifo), tmp_path)
    assert time.monotonic() - started < 1


def test_collect_file_refuses_sparse_over_limit(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as stream:
        stream.truncate(200 * MIB)
    with pytest.raises(FileRejected, match="raise max_size"):
        collect_file(str(sparse), tmp_path)


def test_collect_file_refuses_directory_and_missing(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="not a regular file"):
        collect_file(str(tmp_path), tmp_path)
    with pytest.raises(FileRejected, match="cannot open"):
        collect_file(str(tmp_path / "missing"), tmp_path)


def test_collect_file_rejects_bad_max_size(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="max_size"):
        collect_file(str(tmp_path), tmp_path, max_size=0)


def test_collect_file_non_utf8_name(tmp_path: Path) -> None:
    raw_name = os.fsencode(str(tmp_path)) + b"/caf\xe9.bin"
    with open(raw_name, "wb") as stream:
        stream.write(b"payload")
    result = collect_file(os.fsdecode(raw_name), tmp_path)
    metadata = result["metadata"]
    assert "\ufffd" in metadata["original_name"]
    assert metadata["original_name_b64"] == "Y2Fm6S5iaW4="
    json.dumps(metadata)


def test_find_by_sha256_skips_links_and_fifos(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "d" / "fifo")
    (tmp_path / "d" / "wanted").write_bytes(b"needle")
    (tmp_path / "link").symlink_to(tmp_path / "d" / "wanted")
    sha256 = hashlib.sha256(b"needle").hexdigest()
    assert find_by_sha256(sha256.upper(), [str(tmp_path)], MIB) == str(
        tmp_path / "d" / "wanted"
    )
    assert find_by_sha256("0" * 64, [str(tmp_path)], MIB) is None


def test_read_capped_truncates_and_refuses_links(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    assert read_capped(big, 10) == (b"x" * 10, True)
    assert read_capped(big, 100) == (b"x" * 100, False)
    link = tmp_path / "link"
    link.symlink_to(big)
    with pytest.raises(Exception, match="not a regular file"):
        read_capped(link)
    assert read_capped(link, 5, follow_links=True) == (b"x" * 5, True)


def hash_then(action: Callable[[], object]) -> Callable[..., tuple[dict, int]]:
    """Wrap ioc._hash_fd so that `action` runs after the first (hash-only) pass."""
    from agent.forensics import ioc

    original = ioc._hash_fd
    calls = []

    def wrapped(fd: int, limit: int, sink: object = None) -> tuple[dict, int]:
        result = original(fd, limit, sink)
        calls.append(sink)
        if len(calls) == 1:
            action()
        return result

    return wrapped


def test_collect_file_content_changed_between_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.forensics import ioc

    source = tmp_path / "growing.log"
    source.write_bytes(b"first part\n")

    def append() -> None:
        with open(source, "ab") as stream:
            stream.write(b"second part\n")

    monkeypatch.setattr(ioc, "_hash_fd", hash_then(append))
    with pytest.raises(FileRejected, match="content changed while it was read"):
        collect_file(str(source), tmp_path)
    assert list(tmp_path.glob("*.zip*")) == []


def test_collect_file_mtime_changed_is_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.forensics import ioc

    source = tmp_path / "touched"
    source.write_bytes(b"same bytes")
    monkeypatch.setattr(ioc, "_hash_fd", hash_then(lambda: os.utime(source, (1, 1))))
    result = collect_file(str(source), tmp_path)
    assert result["metadata"]["changed_during_read"] is True
    assert result["sha256"] == hashlib.sha256(b"same bytes").hexdigest()
