"""Senders for notifications: Slack incoming webhooks and signed webhooks.

Signed webhooks follow Standard Webhooks v1: `webhook-id` stays the same across
retries so the receiver can drop duplicates, and `webhook-signature` carries one
`v1,<base64 HMAC-SHA256>` entry per active secret while a secret is rotated.
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connectors.http import HttpClient, RateLimitStyle, RetryPolicy, short_body

if TYPE_CHECKING:
    from connectors.models import Connector

SLACK_TEXT_LIMIT = 4000
SLACK_MAX_BLOCKS = 50
# Slack returns these when the webhook itself is broken, so retrying cannot help.
SLACK_BROKEN_STATUSES = frozenset({400, 403, 404, 410})


class DeliveryError(Exception):
    """A notification was not delivered; `transient` is True when a retry may work."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def _client(
    base_url: str,
    label: str,
    *,
    redact_urls: bool,
    sleep: Callable[[float], None],
    policy: RetryPolicy | None,
) -> HttpClient:
    return HttpClient(
        base_url,
        label=label,
        style=RateLimitStyle.RETRY_AFTER,
        timeout=(5.0, 15.0),
        redact_urls=redact_urls,
        sleep=sleep,
        policy=policy,
    )


def truncate_slack_text(text: str) -> str:
    if len(text) <= SLACK_TEXT_LIMIT:
        return text
    return text[: SLACK_TEXT_LIMIT - 1] + "…"


def send_slack(
    connector: "Connector",
    text: str,
    *,
    blocks: list[dict[str, Any]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    policy: RetryPolicy | None = None,
) -> None:
    """Post a message to a Slack incoming webhook; raise DeliveryError on failure.

    Only HTTP 200 with the body `ok` counts as delivered. A 429 waits for
    `Retry-After` inside the HTTP layer; 400, 403, 404 and 410 mean the webhook
    is broken and are not retried.
    """
    url = connector.get_secret()
    if not url:
        raise DeliveryError(
            f"connector {connector.name!r} has no webhook URL stored", transient=False
        )
    payload: dict[str, Any] = {"text": truncate_slack_text(text)}
    if blocks:
        payload["blocks"] = blocks[:SLACK_MAX_BLOCKS]

    http = _client(
        url,
        f"slack connector={connector.pk}",
        redact_urls=True,
        sleep=sleep,
        policy=policy,
    )
    response = http.request("POST", url, json=payload)
    if response.status_code == 200 and response.text.strip() == "ok":
        return
    body = short_body(response.text)
    if response.status_code in SLACK_BROKEN_STATUSES:
        raise DeliveryError(
            f"Slack rejected the message: HTTP {response.status_code} {body}; the "
            f"webhook of connector {connector.name!r} is broken, so replace it",
            transient=False,
        )
    raise DeliveryError(
        f"Slack did not accept the message: HTTP {response.status_code} {body}",
        transient=response.status_code == 429 or response.status_code >= 500,
    )


def webhook_keys(secret: str) -> list[bytes]:
    """Decode the `whsec_<base64>` secrets, one per line or space."""
    keys = []
    for part in secret.split():
        encoded = part.removeprefix("whsec_")
        try:
            keys.append(base64.b64decode(encoded, validate=True))
        except ValueError:
            raise ValueError(
                "a webhook secret must look like whsec_<base64 key>"
            ) from None
    return keys


def sign_webhook(
    keys: list[bytes], message_id: str, timestamp: int, body: bytes
) -> str:
    """Return the `webhook-signature` value: one `v1,<base64>` per key."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1,"
        + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


def send_webhook(
    connector: "Connector",
    event_type: str,
    data: dict[str, Any],
    *,
    message_id: str,
    now: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    policy: RetryPolicy | None = None,
) -> int:
    """Deliver one signed event; return the HTTP status or raise DeliveryError.

    The caller keeps `message_id` the same when it retries a delivery.
    """
    keys = webhook_keys(connector.get_secret())
    if not keys:
        raise DeliveryError(
            f"connector {connector.name!r} has no signing secret stored",
            transient=False,
        )
    sent_at = now if now is not None else time.time()
    timestamp = int(sent_at)
    body = json.dumps(
        {
            "type": event_type,
            "timestamp": datetime.fromtimestamp(sent_at, UTC).isoformat(),
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_webhook(keys, message_id, timestamp, body),
    }
    http = _client(
        connector.base_url,
        f"webhook connector={connector.pk}",
        redact_urls=False,
        sleep=sleep,
        policy=policy,
    )
    response = http.request("POST", connector.base_url, data=body, headers=headers)
    if 200 <= response.status_code < 300:
        return response.status_code
    raise DeliveryError(
        f"webhook receiver returned HTTP {response.status_code} for message "
        f"{message_id}",
        transient=response.status_code not in (400, 401, 403, 404, 410),
    )
