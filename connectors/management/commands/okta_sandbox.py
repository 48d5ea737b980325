"""Serve Exec's fake Okta on 127.0.0.1 for demos; it is not Okta."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from connectors.choices import ConnectorKind, OktaAuthType
from connectors.models import Connector
from connectors.okta_sandbox import OktaSandbox, add_sample_directory
from exec_site.events import record_event

CONNECTOR_NAME = "Okta sandbox"


class Command(BaseCommand):
    help = (
        "Serve a fake Okta org with sample people and groups on 127.0.0.1 until "
        "stopped. It is not Okta: use it for demos and trials only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=0,
            help="TCP port on 127.0.0.1 to serve on; 0 picks a free one.",
        )
        parser.add_argument(
            "--configure",
            action="store_true",
            help=f"Create or update the connector {CONNECTOR_NAME!r} (marked as a "
            "sandbox) to point at this server with its token.",
        )

    def handle(self, *args: Any, port: int, configure: bool, **options: Any) -> None:
        sandbox = OktaSandbox(port=port)
        add_sample_directory(sandbox.state)
        token = sandbox.state.new_api_token()
        sandbox.start()

        self.stdout.write(
            "This is Exec's Okta sandbox, a fake for demos. It is NOT Okta."
        )
        self.stdout.write(f"Base URL:  {sandbox.base_url}")
        self.stdout.write(f"API token: {token}  (use as: Authorization: SSWS <token>)")
        self.stdout.write("Sample people:")
        for user in sorted(
            sandbox.state.users.values(), key=lambda u: u.profile["login"]
        ):
            sam = user.profile.get("samAccountName", "")
            self.stdout.write(
                f"  CORP\\{sam:<11} {user.profile['login']:<28} {user.status}"
            )
        if configure:
            connector = configure_connector(sandbox.base_url, token)
            self.stdout.write(
                f"Connector {connector.name!r} (id {connector.pk}) now uses it."
            )
        self.stdout.write("Press Ctrl-C to stop.")
        self.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()


def configure_connector(base_url: str, token: str) -> Connector:
    """Create or update the sandbox connector to use this server and token."""
    with transaction.atomic():
        connector, created = Connector.objects.select_for_update().get_or_create(
            name=CONNECTOR_NAME,
            defaults={"kind": ConnectorKind.OKTA, "base_url": base_url},
        )
        connector.kind = ConnectorKind.OKTA
        connector.base_url = base_url
        connector.is_sandbox = True
        connector.enabled = True
        connector.okta_auth_type = OktaAuthType.SSWS
        connector.login_suffixes = "example.com"
        connector.sam_attribute = "samAccountName"
        connector.set_secret(token)
        connector.save()
        record_event(
            "connector.configured",
            f"{'Created' if created else 'Updated'} {connector} for the Okta sandbox",
            subject=connector,
            details={"base_url": base_url},
        )
    return connector
