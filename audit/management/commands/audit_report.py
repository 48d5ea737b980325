"""Write the audit report of a period to a PDF file."""

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.pdf import render_pdf
from audit.report import build_report_data


def _date(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option}: {value!r} is not a date; use YYYY-MM-DD."
        ) from None


class Command(BaseCommand):
    help = (
        "Build the audit report for the days from --since to --until (UTC, "
        "both included) and write it as a PDF."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since", required=True, help="First day, YYYY-MM-DD, UTC."
        )
        parser.add_argument(
            "--until", help="Last day, YYYY-MM-DD, UTC, included (default: today)."
        )
        parser.add_argument("--output", required=True, help="Path of the PDF to write.")
        parser.add_argument(
            "--generated-by",
            default="manage.py audit_report",
            help="Name shown as the report's author on the cover.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        since = _date("--since", options["since"])
        until = _date("--until", options["until"]) if options["until"] else now.date()
        if since > until:
            raise CommandError(f"--until: {until} is before --since {since}.")
        output = Path(options["output"])
        if not output.parent.is_dir():
            raise CommandError(f"--output: folder {output.parent} does not exist.")

        data = build_report_data(
            since=since, until=until, generated_by=options["generated_by"], now=now
        )
        with output.open("wb") as file:
            pages = render_pdf(data, file)
        self.stdout.write(
            f"Wrote {output}: {pages} pages, {data.total_events} events "
            f"from {since} to {until}."
        )
