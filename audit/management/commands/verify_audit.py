"""Verify the audit chain: every link, every row's content hash and, when
given, the anchors recorded outside the database."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.anchors import (
    Anchor,
    AnchorError,
    AnchorFault,
    check_anchors,
    parse_expectation,
    read_anchor_file,
)
from audit.chain import ChainFault, chain_head, verify_chain

# At most this many faults are listed. A large truncation would otherwise
# print one line per anchor that it removed.
MAX_LISTED_FAULTS = 20


class Command(BaseCommand):
    help = (
        "Walk the audit timeline in sequence order, recompute each event's "
        "hash and check its link to the previous one; with --anchors or "
        "--expect, also check that each anchored sequence still has its hash. "
        "Exits non-zero if any check fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help="Events read per query (default 5000); memory stays constant.",
        )
        parser.add_argument(
            "--anchors",
            action="append",
            default=[],
            metavar="FILE",
            help="Anchor file, one JSON anchor a line, as written by the anchor "
            "task or anchor_audit. Repeatable.",
        )
        parser.add_argument(
            "--expect",
            action="append",
            default=[],
            metavar="SEQUENCE:HASH",
            help="One anchor, such as the sequence and hash of an anchor's log "
            "line. Repeatable.",
        )

    def handle(
        self,
        *args: Any,
        batch_size: int,
        anchors: list[str],
        expect: list[str],
        **options: Any,
    ) -> None:
        if batch_size < 1:
            raise CommandError(f"--batch-size: {batch_size} is invalid; use 1 or more.")
        expected = _load_anchors(anchors, expect)
        if anchors and not expected:
            self.stderr.write(
                f"No anchors in {', '.join(anchors)}; only the chain is checked."
            )

        report = verify_chain(batch_size=batch_size)
        head_sequence = chain_head()[0]
        faults = check_anchors(expected, head_sequence=head_sequence)

        problems = []
        if report.fault:
            problems.append(_chain_failure(report.fault, checked=report.checked))
        if faults:
            distinct = len({anchor.head for anchor in expected})
            problems.append(_anchor_failure(faults, checked=distinct))
        if problems:
            raise CommandError("\n".join(problems))

        self.stdout.write(
            f"audit chain OK: all {report.checked} event(s) verify; head sequence "
            f"{report.head_sequence}, hash {report.head_hash}"
        )
        if expected:
            self.stdout.write(_anchors_ok(expected, head_sequence))


def _load_anchors(paths: list[str], expectations: list[str]) -> list[Anchor]:
    try:
        loaded = [parse_expectation(text) for text in expectations]
        for path in paths:
            loaded.extend(read_anchor_file(Path(path)))
    except AnchorError as error:
        raise CommandError(f"{error} Nothing was verified.") from None
    return loaded


def _chain_failure(fault: ChainFault, *, checked: int) -> str:
    return (
        f"audit chain FAILED at sequence {fault.sequence} "
        f"(id {fault.event_id}) after {checked} verified "
        f"event(s): {fault.problem}"
    )


def _anchors_ok(expected: list[Anchor], head_sequence: int) -> str:
    newest = max(anchor.sequence for anchor in expected)
    message = (
        f"audit anchors OK: {len(expected)} anchor(s) match; the newest is at "
        f"sequence {newest}, the head at {head_sequence}"
    )
    if newest < head_sequence:
        # Removing these events would go unnoticed because no anchor names them.
        message += (
            f"; events {newest + 1} to {head_sequence} are covered by no anchor yet"
        )
    return message


def _anchor_failure(faults: list[AnchorFault], *, checked: int) -> str:
    lines = [
        f"audit anchors FAILED: {len(faults)} of {checked} anchor(s) do not match:"
    ]
    lines += [f"  {fault.describe()}" for fault in faults[:MAX_LISTED_FAULTS]]
    if len(faults) > MAX_LISTED_FAULTS:
        lines.append(f"  and {len(faults) - MAX_LISTED_FAULTS} more")
    return "\n".join(lines)
