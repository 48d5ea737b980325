"""Verify the audit chain: every link and every row's content hash."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.chain import verify_chain


class Command(BaseCommand):
    help = (
        "Walk the audit timeline in sequence order, recompute each event's "
        "hash and check its link to the previous one. Exits non-zero at the "
        "first event that does not verify."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help="Events read per query (default 5000); memory stays constant.",
        )

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError(f"--batch-size: {batch_size} is invalid; use 1 or more.")
        report = verify_chain(batch_size=batch_size)
        if report.fault:
            fault = report.fault
            raise CommandError(
                f"audit chain FAILED at sequence {fault.sequence} "
                f"(id {fault.event_id}) after {report.checked} verified "
                f"event(s): {fault.problem}"
            )
        self.stdout.write(
            f"audit chain OK: all {report.checked} event(s) verify; head sequence "
            f"{report.head_sequence}, hash {report.head_hash}"
        )
