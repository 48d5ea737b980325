"""Import a forensics package collected offline, verified exactly like an upload."""

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from endpoints.models import Endpoint
from forensics import actions, storage
from forensics.verify import Rejected


class Command(BaseCommand):
    help = "Verify a forensics package zip and store it for an endpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("zip_path", metavar="FILE.zip", type=Path)
        parser.add_argument(
            "--endpoint", type=int, required=True, help="Id of the endpoint."
        )
        parser.add_argument(
            "--user", help="Username recorded as the one who requested the package."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source: Path = options["zip_path"]
        if not source.is_file():
            raise CommandError(f"{source}: not found or not a regular file.")
        endpoint = Endpoint.objects.filter(pk=options["endpoint"]).first()
        if endpoint is None:
            raise CommandError(f"--endpoint {options['endpoint']}: no such endpoint.")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"--user {options['user']}: no such user.")

        # The source stays where it is: the copy is what storage takes over.
        path, sha256, size = storage.copy_to_incoming(source)
        try:
            package, created = actions.receive_package(
                path,
                sha256,
                size,
                endpoint=endpoint,
                actor=user or "command:import_package",
                requested_by=user,
            )
        except Rejected as error:
            raise CommandError(f"{source}: rejected: {error}.") from None
        finally:
            path.unlink(missing_ok=True)

        verb = "Imported" if created else "Already stored as"
        self.stdout.write(
            f"{verb} package {package.pk} ({package.status}, "
            f"{package.artifacts.count()} artifacts, sha256 {sha256})"
        )
