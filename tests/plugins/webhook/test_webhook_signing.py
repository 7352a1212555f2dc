"""Signatures (``webhook-contract.md`` §4.2-4.3): the contract's test vectors, and real
requests verified by the PyPI package ``standardwebhooks``."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from webhook_receiver import Receiver, fail, ok
from webhook_service import build_service, message

from plugins.webhook.config import check_secret
from plugins.webhook.signing import StandardWebhooksSigner, waha_hmac

WAHA_BODY = b'{"event":"message","session":"default","engine":"WEBJS"}'
WAHA_HMAC = ("208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8"
             "097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89")
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID, SW_TIMESTAMP, SW_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SECOND_SECRET = "whsec_" + base64.b64encode(b"a second secret, for rotation!!!").decode()


def test_waha_hmac_test_vector():
    assert waha_hmac("my-secret-key", WAHA_BODY) == WAHA_HMAC
    assert waha_hmac("my-secret-key", WAHA_BODY, "sha512") == WAHA_HMAC
    sha256 = waha_hmac("my-secret-key", WAHA_BODY, "sha256")
    assert len(sha256) == 64 and sha256 == sha256.lower() and sha256 != WAHA_HMAC[:64]
    assert waha_hmac("other-key", WAHA_BODY) != WAHA_HMAC


def test_standard_webhooks_test_vector():
    assert StandardWebhooksSigner([SW_SECRET]).signature(SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE


def test_rotation_gives_one_well_formed_entry_per_secret():
    signature = StandardWebhooksSigner([SW_SECRET, SECOND_SECRET]).signature(SW_ID, SW_TIMESTAMP, SW_BODY)
    first, second = signature.split(" ")
    assert first == SW_SIGNATURE
    version, encoded = second.split(",")
    key = base64.b64decode(SECOND_SECRET.removeprefix("whsec_"))
    expected = hmac.new(key, f"{SW_ID}.{SW_TIMESTAMP}.".encode() + SW_BODY, hashlib.sha256).digest()
    assert version == "v1" and base64.b64decode(encoded) == expected


def test_secrets_must_be_whsec_base64_of_at_least_16_bytes():
    assert check_secret(SW_SECRET) == base64.b64decode(SW_SECRET[6:])
    for bad in ("whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError):
            check_secret(bad)


async def test_real_requests_verify_with_standardwebhooks_and_are_resigned_per_attempt(tmp_path):
    async with Receiver() as rx:
        rx.respond("/signed", fail(500), then=ok())
        webhooks = [
            {"url": rx.url("/signed"), "events": ["message"], "hmac_key": "my-secret-key",
             "secrets": [SW_SECRET, SECOND_SECRET], "retries": {"schedule": [1.05]}},
            {"url": rx.url("/sha256"), "events": ["message"], "hmac_key": "k2", "hmac_algorithm": "sha256"},
            {"url": rx.url("/plain"), "events": ["message"]},
        ]
        service = build_service(tmp_path, webhooks=webhooks, sessions={"default": [message("1@c.us", 1)]})
        await service.run_to_end()

    first, second = rx.at("/signed")
    assert (first.attempt, second.attempt) == (1, 2)
    for request in (first, second):
        headers = dict(request.headers)
        for secret in (SW_SECRET, SECOND_SECRET):  # either secret of the rotation verifies
            assert Webhook(secret).verify(request.body, headers)["id"] == request.event_id
        assert request.headers["webhook-id"] == request.event_id
        assert request.headers["X-Webhook-Hmac"] == waha_hmac("my-secret-key", request.body)
        assert request.headers["X-Webhook-Hmac-Algorithm"] == "sha512"
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + base64.b64encode(b"not the secret at all!!").decode()).verify(
                request.body, headers)
        tampered = request.body.replace(b'"message"', b'"message.any"')
        with pytest.raises(WebhookVerificationError):
            Webhook(SW_SECRET).verify(tampered, headers)
    # Re-signed per attempt: the timestamp is the attempt's (seconds), not the event's.
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert abs(int(first.headers["webhook-timestamp"]) - first.json()["timestamp"] // 1000) <= 1
    assert second.headers["webhook-signature"] != first.headers["webhook-signature"]
    assert second.body == first.body and second.headers["X-Webhook-Hmac"] == first.headers["X-Webhook-Hmac"]

    [sha256] = rx.at("/sha256")
    assert sha256.headers["X-Webhook-Hmac-Algorithm"] == "sha256"
    assert sha256.headers["X-Webhook-Hmac"] == hmac.new(b"k2", sha256.body, hashlib.sha256).hexdigest()
    assert "webhook-signature" not in sha256.headers
    [plain] = rx.at("/plain")
    assert not any(h in plain.headers for h in ("X-Webhook-Hmac", "X-Webhook-Hmac-Algorithm",
                                                "webhook-id", "webhook-timestamp", "webhook-signature"))
