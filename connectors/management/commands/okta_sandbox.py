"""Serve Exec's fake Okta on 127.0.0.1 for demos; it is not Okta."""

import time
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from connectors.choices import ConnectorKind, OktaAuthType
from connectors.crypto import SecretDecryptionError
from connectors.models import Connector
from connectors.okta_sandbox import OktaSandbox, add_sample_directory
from exec_site.events import record_event

CONNECTOR_NAME = "Okta sandbox"


class Command(BaseCommand):
    help = (
        "Serve a fake Okta org with sample people and groups on 127.0.0.1 until "
        "stopped. It is not Okta: use it for demos and trials only. When the "
        f"connector {CONNECTOR_NAME!r} already points at 127.0.0.1, the server "
        "reuses its port and API token, so the connector keeps working after a "
        "restart."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="TCP port on 127.0.0.1 to serve on; 0 picks a free one. Default: "
            f"the port of the connector {CONNECTOR_NAME!r}, or else 0.",
        )
        parser.add_argument(
            "--token",
            default="",
            help="SSWS API token to accept. Default: the token stored in the "
            f"connector {CONNECTOR_NAME!r}, or else a new random one.",
        )
        parser.add_argument(
            "--configure",
            action="store_true",
            help=f"Create or update the connector {CONNECTOR_NAME!r} (marked as a "
            "sandbox) to point at this server with its token.",
        )

    def handle(
        self,
        *args: Any,
        port: int | None,
        token: str,
        configure: bool,
        **options: Any,
    ) -> None:
        stored = stored_sandbox_connector()
        stored_token = self._stored_token(stored)
        if port is None:
            port = (urlsplit(stored.base_url).port or 0) if stored else 0
        try:
            sandbox = OktaSandbox(port=port)
        except OSError as error:
            raise CommandError(
                f"--port: cannot serve on 127.0.0.1:{port} ({error}); stop the "
                "process that uses it, or give another --port"
            ) from None
        add_sample_directory(sandbox.state)
        chosen = token or stored_token
        if chosen:
            token = sandbox.state.add_api_token(chosen)
        else:
            token = sandbox.state.new_api_token()
        sandbox.start()
        try:
            self._print_sandbox(sandbox, token)
            self._report_connector(sandbox, token, stored, stored_token, configure)
            self.stdout.write("Press Ctrl-C to stop.")
            self.stdout.flush()
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()

    def _stored_token(self, stored: Connector | None) -> str:
        if stored is None:
            return ""
        try:
            return stored.get_secret()
        except SecretDecryptionError as error:
            self.stderr.write(f"Connector {stored.name!r}: {error}")
            return ""

    def _print_sandbox(self, sandbox: OktaSandbox, token: str) -> None:
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

    def _report_connector(
        self,
        sandbox: OktaSandbox,
        token: str,
        stored: Connector | None,
        stored_token: str,
        configure: bool,
    ) -> None:
        """Configure the connector on request, or print whether it uses this server."""
        if configure:
            connector = configure_connector(sandbox.base_url, token)
            self.stdout.write(
                f"Connector {connector.name!r} (id {connector.pk}) now uses it; "
                "later starts reuse its port and token, so --configure is needed "
                "only once."
            )
            return
        if stored is not None and (stored.base_url, stored_token) == (
            sandbox.base_url,
            token,
        ):
            self.stdout.write(
                f"Connector {stored.name!r} (id {stored.pk}) already uses this URL "
                "and token."
            )
            return
        port = urlsplit(sandbox.base_url).port
        self.stdout.write(
            f"Connector {CONNECTOR_NAME!r} does not use this server. To point it "
            f"here, stop this one and run: python manage.py okta_sandbox --port "
            f"{port} --configure"
        )


def stored_sandbox_connector() -> Connector | None:
    """Return the sandbox connector when it points at a sandbox on 127.0.0.1.

    Only then is its secret a sandbox token that may be reused and printed.
    """
    connector = Connector.objects.filter(
        name=CONNECTOR_NAME,
        kind=ConnectorKind.OKTA,
        is_sandbox=True,
        okta_auth_type=OktaAuthType.SSWS,
    ).first()
    if connector is None or not connector.has_secret:
        return None
    if urlsplit(connector.base_url).hostname != "127.0.0.1":
        return None
    return connector


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
