"""Ingest a file of detections through the same path as the API."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from playbooks.choices import DetectionSource
from playbooks.detections import IngestError, ingest


class Command(BaseCommand):
    help = (
        "Ingest a detection file (one JSON document, an array or NDJSON) from a "
        "source, and print each detection's id, whether it was new and its runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", choices=DetectionSource.values)
        parser.add_argument("file", type=Path, help="Path of the JSON or NDJSON file.")

    def handle(self, *args: Any, source: str, file: Path, **options: Any) -> None:
        try:
            body = file.read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        try:
            results = ingest(source, body)
        except IngestError as error:
            raise CommandError(f"{file}: {error}; nothing was stored") from None

        for item in results:
            runs = ", ".join(str(run.pk) for run in item.runs) or "none"
            self.stdout.write(
                f"detection {item.detection.pk} "
                f"{'new' if item.new else 'known'} runs: {runs}"
            )
