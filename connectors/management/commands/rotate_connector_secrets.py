"""Re-encrypt every connector secret with the first key in EXEC_ENCRYPTION_KEY."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connectors.crypto import SecretDecryptionError, rotate_secret
from connectors.models import Connector


class Command(BaseCommand):
    help = (
        "Re-encrypt all connector secrets with the first key of "
        "EXEC_ENCRYPTION_KEY, so that older keys can then be removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        with transaction.atomic():
            connectors = Connector.objects.select_for_update().exclude(
                encrypted_secret=""
            )
            for connector in connectors:
                try:
                    connector.encrypted_secret = rotate_secret(
                        connector.encrypted_secret
                    )
                except SecretDecryptionError as error:
                    raise CommandError(
                        f"connector {connector.name!r}: {error}; nothing was changed"
                    ) from None
                connector.save(update_fields=["encrypted_secret"])
                rotated += 1
        self.stdout.write(f"Re-encrypted the secrets of {rotated} connector(s).")
