"""Print the ranked Okta candidates for an endpoint user."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.choices import ConnectorKind
from connectors.http import HttpConnectionError
from connectors.models import Connector
from connectors.okta import OktaError
from identities.matching import find_candidates


class Command(BaseCommand):
    help = "Print the Okta users that may be an endpoint user, best first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "username",
            help="As the endpoint reports it: CORP\\jdoe, jdoe, "
            "jdoe@corp.example.com or 'John Doe'.",
        )
        parser.add_argument(
            "--connector", help="Name of the Okta connector; needed when several exist."
        )

    def handle(
        self, *args: Any, username: str, connector: str | None, **options: Any
    ) -> None:
        target = self._connector(connector)
        try:
            result = find_candidates(username, target)
        except (OktaError, HttpConnectionError) as error:
            raise CommandError(str(error)) from None

        self.stdout.write(f"Candidates for {username} in {target}:")
        if not result.candidates:
            self.stdout.write("  none")
        for rank, candidate in enumerate(result.candidates, start=1):
            self.stdout.write(
                f"{rank:>2}. {candidate.score:>3}  {candidate.login}  "
                f"{candidate.display_name}  {candidate.status}  "
                f"{candidate.okta_user_id}"
            )
            for reason in candidate.reasons:
                self.stdout.write(f"         - {reason}")
        for note in result.notes:
            self.stdout.write(f"Note: {note}")

    def _connector(self, name: str | None) -> Connector:
        connectors = Connector.objects.filter(kind=ConnectorKind.OKTA)
        if name:
            found = connectors.filter(name=name).first()
            if found is None:
                raise CommandError(f"--connector: no Okta connector named {name!r}")
            return found
        choices = list(connectors[:2])
        if not choices:
            raise CommandError(
                "No Okta connector is configured. For a demo, run "
                "`python manage.py okta_sandbox --configure`; for a real org, add "
                "an Okta connector under Connectors in the admin."
            )
        if len(choices) > 1:
            names = ", ".join(c.name for c in connectors)
            raise CommandError(
                f"give --connector NAME; Okta connectors configured: {names}"
            )
        return choices[0]
