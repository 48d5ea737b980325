"""Workflows on connectors: checking a connection and replacing a secret."""

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.choices import ConnectorKind
from connectors.crypto import SecretDecryptionError
from connectors.http import HttpConnectionError
from connectors.models import Connector
from connectors.notify import DeliveryError, send_slack, send_webhook
from connectors.okta import OktaAuthError, OktaClient, OktaError, OktaForbidden
from exec_site.events import record_event

logger = logging.getLogger(__name__)


def probe_connector(connector: Connector) -> tuple[bool, str]:
    """Call the vendor once and describe the result in plain words.

    Okta: read one user. Slack: post a test message. Webhook: deliver a signed
    `exec.connection_test` event. Nothing here raises for a vendor failure.
    """
    if not connector.has_secret:
        return False, "no secret is stored; enter the token, key or webhook URL"
    try:
        if connector.kind == ConnectorKind.OKTA:
            return True, OktaClient.for_connector(connector).check()
        if connector.kind == ConnectorKind.SLACK:
            send_slack(connector, f"Exec connection test from connector {connector}")
            return True, "Slack accepted the test message"
        send_webhook(
            connector,
            "exec.connection_test",
            {"connector": connector.name},
            message_id=f"msg_{uuid.uuid4().hex}",
        )
        return True, "the receiver accepted a signed test event"
    except SecretDecryptionError as error:
        return False, str(error)
    except HttpConnectionError as error:
        return False, str(error)
    except OktaAuthError:
        return False, "Okta rejected the credential (401); check the token or key"
    except OktaForbidden as error:
        if error.missing_scope:
            return False, f"the credential lacks the scope {error.missing_scope}"
        return False, "Okta refused access (403); the admin lacks a required role"
    except OktaError as error:
        return False, str(error)
    except DeliveryError as error:
        return False, str(error)
    except ValueError as error:
        return False, str(error)


def check_connector(connector: Connector, *, actor: Any) -> tuple[bool, str]:
    """Test the connection and store the result on the connector with an event."""
    ok, message = probe_connector(connector)
    logger.info(
        "checked connector connector=%s ok=%s message=%s", connector.pk, ok, message
    )
    with transaction.atomic():
        Connector.objects.filter(pk=connector.pk).update(
            last_checked=timezone.now(), last_check_ok=ok, last_check_message=message
        )
        record_event(
            "connector.checked",
            f"Connection test of {connector}: {'passed' if ok else 'failed'}",
            actor=actor,
            subject=connector,
            details={"ok": ok, "message": message},
        )
    return ok, message


def mark_broken(connector: Connector, message: str) -> None:
    """Record that the vendor rejected the connector's configuration.

    Used when a delivery fails in a way retrying cannot fix (a removed Slack
    webhook, a webhook receiver that returns 410), so the admin list shows it.
    """
    logger.warning("connector broken connector=%s message=%s", connector.pk, message)
    with transaction.atomic():
        Connector.objects.filter(pk=connector.pk).update(
            last_checked=timezone.now(), last_check_ok=False, last_check_message=message
        )
        record_event(
            "connector.broken",
            f"{connector} failed and needs attention: {message}",
            subject=connector,
            details={"message": message},
        )
