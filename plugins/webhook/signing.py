"""Request signatures: WAHA's ``X-Webhook-Hmac`` and Standard Webhooks (``webhook-contract.md`` §4)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from plugins.webhook.config import check_secret


def waha_hmac(key: str, body: bytes, algorithm: str = "sha512") -> str:
    """Lowercase hex HMAC of the exact body bytes."""
    return hmac.new(key.encode(), body, getattr(hashlib, algorithm)).hexdigest()


class StandardWebhooksSigner:
    """Signs ``{id}.{timestamp}.{body}`` with every secret (rotation: several ``v1,`` entries)."""

    def __init__(self, secrets: list[str]) -> None:
        self.keys = [check_secret(s) for s in secrets]

    def signature(self, msg_id: str, timestamp: int, body: bytes) -> str:
        signed = f"{msg_id}.{timestamp}.".encode() + body
        return " ".join(
            "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            for key in self.keys
        )
