"""Print a detection about this machine in a vendor's format, for the walkthrough."""

import getpass
import json
import secrets
import socket
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from endpoints.models import Endpoint, EndpointUser
from endpoints.users import parse_username
from playbooks.demo import BUILDERS, DemoFacts, file_sha256, write_sample_file
from playbooks.normalizers import NormalizationError, normalize


class Command(BaseCommand):
    help = (
        "Print a high-severity Wazuh alert or CrowdStrike detection as JSON, naming "
        "this machine's host name, the current user and a file, ready for "
        "`send_detection`. Without --file-path it writes a harmless sample file "
        "under var/demo/ and names that."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", choices=sorted(BUILDERS), default="wazuh")
        parser.add_argument(
            "--file-path",
            default="",
            help="Absolute path of the file the detection names; default: a "
            "sample file written to var/demo/.",
        )
        parser.add_argument(
            "--user",
            default="",
            help="Account the detection names, such as CORP\\joren; default: the "
            "user running this command.",
        )
        parser.add_argument(
            "--hostname",
            default="",
            help="Host name the detection names; default: this machine's.",
        )
        parser.add_argument(
            "--record-user",
            action="store_true",
            help="Also record --user on this machine's endpoint, as if its agent "
            "had reported the login, so the detection's user is found. Use it to "
            "name a person of the Okta sandbox.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        hostname = options["hostname"] or socket.gethostname()
        username = options["user"] or getpass.getuser()
        path = self._file_path(options["file_path"])
        facts = DemoFacts(
            hostname=hostname,
            username=username,
            file_path=str(path),
            file_sha256=file_sha256(path),
            now=timezone.now(),
            alert_id=str(secrets.randbelow(10**8)),
        )
        document = BUILDERS[options["source"]](facts)

        # The walkthrough posts this document, so it must pass the normalizer.
        try:
            normalize(options["source"], document)
        except NormalizationError as error:
            raise CommandError(f"the demo detection is invalid: {error}") from None
        if options["record_user"]:
            self._record_user(hostname, username)
        self.stdout.write(json.dumps(document, indent=2))

    def _file_path(self, value: str) -> Path:
        if not value:
            return write_sample_file(Path(settings.VAR_DIR) / "demo")
        path = Path(value)
        if not path.is_absolute():
            raise CommandError(
                f"--file-path: {value!r} is not absolute; give the full path, as an "
                "agent would report it"
            )
        return path

    def _record_user(self, hostname: str, username: str) -> None:
        endpoints = list(Endpoint.objects.filter(hostname__iexact=hostname)[:2])
        if len(endpoints) != 1:
            found = "no endpoint" if not endpoints else "several endpoints"
            raise CommandError(
                f"--record-user: {found} named {hostname!r}; start the agent "
                "(make run does) and wait for its first check-in"
            )
        domain, name = parse_username(username)
        _, created = EndpointUser.objects.get_or_create(
            endpoint=endpoints[0],
            username=username,
            defaults={"domain": domain, "name": name},
        )
        verb = "recorded" if created else "already recorded"
        self.stderr.write(f"User {username} {verb} on endpoint {endpoints[0].pk}.")
