"""Anchors of the audit chain: the chain head recorded outside the database.

An anchor is the head's sequence and hash at one moment. It is logged on one
INFO line and can be appended to a file as one JSON line. Later, every
anchored sequence must still exist with the same hash, so removing or
rewriting events up to the newest anchor is detected even by someone who
recomputes every hash after the change.
"""

import fcntl
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from audit.chain import chain_head
from audit.models import GENESIS_HASH, AuditEvent, canonical_time

logger = logging.getLogger(__name__)

HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
# Anchor lines are under 200 bytes, so this tail always contains the last one.
TAIL_BYTES = 4096
# Anchored sequences looked up per query. SQLite before 3.32, which Django 5.2
# still supports, allows at most 999 bound parameters.
LOOKUP_BATCH = 500


class AnchorError(Exception):
    """An anchor file that cannot be read or written, or an invalid anchor."""


@dataclass(frozen=True)
class Anchor:
    """The chain head at one moment: the newest event's sequence and hash.

    `origin` names where the anchor was read from, for messages.
    """

    sequence: int
    hash: str
    anchored_at: datetime | None = None
    origin: str = ""

    @property
    def head(self) -> tuple[int, str]:
        """The sequence and hash, which identify the anchored chain head."""
        return self.sequence, self.hash

    def log_fields(self) -> str:
        """Return the anchor as `key=value` fields, as logged and printed."""
        moment = canonical_time(self.anchored_at) if self.anchored_at else "-"
        return f"sequence={self.sequence} hash={self.hash} anchored_at={moment}"

    def json_line(self) -> str:
        """Return the anchor as one line of an anchor file, newline included."""
        moment = canonical_time(self.anchored_at) if self.anchored_at else None
        content = {"sequence": self.sequence, "hash": self.hash, "anchored_at": moment}
        return json.dumps(content) + "\n"


def parse_anchor_line(text: str, origin: str) -> Anchor:
    """Parse one JSON line of an anchor file; raise ValueError saying what is wrong."""
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(content, dict):
        raise ValueError("not a JSON object")

    sequence = content.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise ValueError(
            f"sequence {sequence!r} is invalid; expected a whole number, 0 or more"
        )
    hash_ = content.get("hash")
    if not isinstance(hash_, str) or not HASH_PATTERN.fullmatch(hash_):
        raise ValueError(f"hash {hash_!r} is invalid; expected 64 lowercase hex digits")
    return Anchor(sequence, hash_, _parse_time(content.get("anchored_at")), origin)


def _parse_time(value: object) -> datetime:
    problem = f"anchored_at {value!r} is invalid; expected an ISO 8601 time with offset"
    if not isinstance(value, str):
        raise ValueError(problem)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(problem) from None
    if moment.tzinfo is None:
        raise ValueError(problem)
    return moment


def parse_expectation(text: str) -> Anchor:
    """Parse `SEQUENCE:HASH`, such as a logged anchor's two values."""
    sequence, _, hash_ = text.strip().partition(":")
    if not sequence.isdigit() or not HASH_PATTERN.fullmatch(hash_):
        raise AnchorError(
            f"--expect: {text!r} is invalid; use SEQUENCE:HASH, a whole number and "
            "64 lowercase hex digits, as in an anchor's log line."
        )
    return Anchor(int(sequence), hash_, None, f"--expect {sequence}")


def read_anchor_file(path: Path) -> list[Anchor]:
    """Read every anchor of a file; raise AnchorError at the first invalid line.

    Blank lines are skipped.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AnchorError(
            f"cannot read anchor file {path} ({error.strerror})."
        ) from None
    except UnicodeDecodeError:
        raise AnchorError(f"anchor file {path} is not UTF-8 text.") from None

    anchors = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            anchors.append(parse_anchor_line(line, f"{path} line {number}"))
        except ValueError as error:
            raise AnchorError(
                f"anchor file {path} line {number}: {error}. Restore the line from "
                "a copy of the file or the anchor's log line, then verify again."
            ) from None
    return anchors


@dataclass(frozen=True)
class AnchorFault:
    """An anchor whose sequence is missing or has another hash."""

    anchor: Anchor
    found_hash: str | None
    head_sequence: int

    def describe(self) -> str:
        anchor = self.anchor
        where = f"sequence {anchor.sequence} (anchor from {anchor.origin})"
        expected = f"expected hash {anchor.hash}"
        if self.found_hash is not None:
            return (
                f"{where}: {expected}, found {self.found_hash}; this event was "
                "rewritten or replaced after the anchor was written"
            )
        if anchor.sequence > self.head_sequence:
            return (
                f"{where}: {expected}, found no event; the chain now ends at "
                f"sequence {self.head_sequence}, so events were removed from its "
                "end after the anchor was written"
            )
        return (
            f"{where}: {expected}, found no event; the event was removed after "
            "the anchor was written"
        )


def _stored_hashes(sequences: list[int]) -> dict[int, str]:
    found = {0: GENESIS_HASH}
    for start in range(0, len(sequences), LOOKUP_BATCH):
        batch = sequences[start : start + LOOKUP_BATCH]
        rows = AuditEvent.objects.filter(sequence__in=batch).values_list(
            "sequence", "hash"
        )
        found.update(rows)
    return found


def check_anchors(
    anchors: Iterable[Anchor], *, head_sequence: int
) -> list[AnchorFault]:
    """Return a fault for each anchor whose sequence no longer has its hash.

    Sequence 0 stands for the empty chain and matches the genesis hash. An
    anchor repeated with the same sequence and hash is checked once, under
    its first origin.
    """
    unique: dict[tuple[int, str], Anchor] = {}
    for anchor in anchors:
        unique.setdefault(anchor.head, anchor)
    sequences = sorted({sequence for sequence, _ in unique if sequence > 0})
    found = _stored_hashes(sequences)

    faults = []
    for anchor in sorted(unique.values(), key=lambda item: item.sequence):
        stored = found.get(anchor.sequence)
        if stored != anchor.hash:
            faults.append(AnchorFault(anchor, stored, head_sequence))
    return faults


@dataclass(frozen=True)
class AnchorOutcome:
    """The result of recording an anchor: the anchor, its file and whether it
    was appended there."""

    anchor: Anchor
    path: Path | None
    written: bool


def record_anchor(*, now: datetime, path: Path | None) -> AnchorOutcome:
    """Log the chain head as an anchor and append it to `path`, if given.

    The file is left alone when its last anchor has the same head, so a quiet
    chain does not grow it.
    """
    sequence, hash_, _ = chain_head()
    anchor = Anchor(sequence, hash_, now)
    # The format of this line is stable so that log searches can find it.
    logger.info("audit anchor %s", anchor.log_fields())
    if path is None:
        return AnchorOutcome(anchor, None, written=False)
    return AnchorOutcome(anchor, path, written=_append_if_moved(path, anchor))


def _append_if_moved(path: Path, anchor: Anchor) -> bool:
    try:
        return _locked_append(path, anchor)
    except OSError as error:
        raise AnchorError(
            f"cannot append the audit anchor to {path} ({error.strerror}); check "
            "that its folder exists and that this user may write to it."
        ) from None


def _locked_append(path: Path, anchor: Anchor) -> bool:
    flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
    try:
        descriptor, created = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600), True
    except FileExistsError:
        descriptor, created = os.open(path, flags), False

    with os.fdopen(descriptor, "a+b") as file:
        # The scheduled task and anchor_audit may run at once. The lock makes
        # reading the last anchor and appending one step.
        fcntl.flock(file, fcntl.LOCK_EX)
        tail = _read_tail(file)
        last = _last_anchor(tail, path)
        if last is not None and last.head == anchor.head:
            return False
        if last is not None:
            _log_faults(last, head_sequence=anchor.sequence)

        # A line cut short by a crash stays on its own line, where
        # verify_audit reports it.
        separator = b"\n" if tail and not tail.endswith(b"\n") else b""
        file.write(separator + anchor.json_line().encode())
        file.flush()
        os.fsync(file.fileno())
    if created:
        _fsync_folder(path.parent)
    return True


def _read_tail(file: BinaryIO) -> bytes:
    size = os.fstat(file.fileno()).st_size
    file.seek(max(0, size - TAIL_BYTES))
    return file.read()


def _last_anchor(tail: bytes, path: Path) -> Anchor | None:
    lines = [line for line in tail.split(b"\n") if line.strip()]
    if not lines:
        return None
    try:
        return parse_anchor_line(lines[-1].decode(), f"{path} last line")
    except (ValueError, UnicodeDecodeError) as error:
        logger.warning(
            "audit anchor file %s ends with an invalid line (%s); appending the "
            "new anchor after it",
            path,
            error,
        )
        return None


def _log_faults(last: Anchor, *, head_sequence: int) -> None:
    # Checking the last anchor costs one query and reports a truncation at the
    # next anchor run, before anyone runs verify_audit.
    for fault in check_anchors([last], head_sequence=head_sequence):
        logger.error(
            "audit anchor mismatch sequence=%d expected_hash=%s found_hash=%s "
            "head_sequence=%d: %s",
            last.sequence,
            last.hash,
            fault.found_hash or "-",
            head_sequence,
            fault.describe(),
        )


def _fsync_folder(folder: Path) -> None:
    # A new file's directory entry is durable only once its folder is synced.
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
