"""Record the audit chain head as an anchor now, as the hourly task does."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.anchors import AnchorError, record_anchor


class Command(BaseCommand):
    help = (
        "Log the audit chain head as an anchor, append it to the anchor file "
        "unless the file's last anchor has the same head, and print it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--file",
            metavar="FILE",
            help="Anchor file to append to (default: EXEC_AUDIT_ANCHOR_FILE; "
            "without either the anchor is only logged and printed).",
        )

    def handle(self, *args: Any, file: str | None, **options: Any) -> None:
        path = Path(file) if file else settings.EXEC_AUDIT_ANCHOR_FILE
        try:
            outcome = record_anchor(now=timezone.now(), path=path)
        except AnchorError as error:
            raise CommandError(str(error)) from None

        anchor = outcome.anchor
        self.stdout.write(f"audit anchor {anchor.log_fields()}")
        if path is None:
            self.stdout.write(
                "No anchor file is set (--file or EXEC_AUDIT_ANCHOR_FILE); keep "
                "the line above."
            )
        elif outcome.written:
            self.stdout.write(f"Appended to {path}.")
        else:
            self.stdout.write(f"Not appended: the last anchor in {path} is the same.")
        self.stdout.write(
            "Check it later with: python manage.py verify_audit "
            f"--expect {anchor.sequence}:{anchor.hash}"
        )
