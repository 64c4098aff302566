"""Signatures per the Standard Webhooks specification, through its reference library: `webhook-id`,
`webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`, keyed with
the bytes the `whsec_` secret encodes."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from ..contract import WEBHOOK_SECRET_PREFIX

SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and the base64 of 32 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class Signer:
    """Signs bodies with one subscription's secret."""

    def __init__(self, secret: str) -> None:
        self._webhook = Webhook(secret)

    def __repr__(self) -> str:
        return "Signer(<secret>)"

    def headers(self, webhook_id: str, body: bytes, now: float) -> dict[str, str]:
        timestamp = int(now)
        signature = self._webhook.sign(
            webhook_id, datetime.fromtimestamp(timestamp, UTC), body.decode()
        )
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
