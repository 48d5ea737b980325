"""Create an enrollment token for agents and print it once."""

import argparse
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.text import slugify

from endpoints.actions import create_enrollment_token


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of 1 or more, got {value!r}"
        )
    return int(value)


class Command(BaseCommand):
    help = (
        "Create an enrollment token and print it once; only its hash is stored, "
        "so it cannot be shown again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expires",
            type=positive_int,
            default=24,
            metavar="HOURS",
            help="Hours until the token expires (default 24).",
        )
        parser.add_argument(
            "--uses",
            type=positive_int,
            default=None,
            metavar="N",
            help="How many agents may enroll with it (default: no limit).",
        )
        parser.add_argument(
            "--tag",
            action="append",
            default=[],
            metavar="T",
            help="Tag for every endpoint enrolled with it; repeat for several.",
        )
        parser.add_argument("--label", default="", help="A name for the token.")

    def handle(
        self,
        *args: Any,
        expires: int,
        uses: int | None,
        tag: list[str],
        label: str,
        **options: Any,
    ) -> None:
        for name in tag:
            if slugify(name) != name:
                raise CommandError(
                    f"--tag {name!r}: invalid tag; use lowercase letters, digits, "
                    f"hyphens and underscores, such as {slugify(name) or 'server'!r}."
                )

        expires_at = timezone.now() + timedelta(hours=expires)
        enrollment_token, token = create_enrollment_token(
            expires=expires_at, max_uses=uses, tags=tag, label=label
        )
        self.stdout.write(token)
        self.stderr.write(
            f"Enrollment token {enrollment_token.pk} expires at "
            f"{expires_at:%Y-%m-%d %H:%M} UTC"
            f"{f' after {uses} uses' if uses else ''}. It is shown only this once."
        )
