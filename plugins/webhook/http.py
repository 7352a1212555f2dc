"""One HTTP attempt: headers, signatures, a bounded read of the answer (``webhook-contract.md`` §4-5)."""

from __future__ import annotations

import time

import aiohttp
import anyio
import msgspec
from yarl import URL

from core import __version__
from plugins.webhook.config import RESERVED_HEADERS, WebhookConfig
from plugins.webhook.retry import parse_retry_after
from plugins.webhook.signing import StandardWebhooksSigner, waha_hmac
from plugins.webhook.ssrf import TargetRefused
from plugins.webhook.store import ClaimedDelivery

#: Response bodies are read up to this size, then released.
MAX_RESPONSE_BYTES = 64 * 1024
#: Longest wait for a response body once the status has arrived (at most half the timeout).
BODY_READ_SECONDS = 2.0
#: What is kept of a response body in the store.
STORED_RESPONSE_CHARS = 2048
USER_AGENT = f"hookwire/{__version__}"


class AttemptAnswer(msgspec.Struct, kw_only=True):
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after: float | None = None
    duration_ms: float = 0.0
    #: The target was refused by the SSRF guard (untrusted webhooks): nothing was sent.
    refused: bool = False


def redact_url(url: str) -> str:
    """The URL without user info (never log credentials)."""
    try:
        parsed = URL(url)
    except ValueError:
        return "<invalid url>"
    return str(parsed.with_user(None)) if parsed.user or parsed.password else url


def build_headers(hook: WebhookConfig, delivery: ClaimedDelivery, attempt: int,
                  signer: StandardWebhooksSigner | None) -> dict[str, str]:
    headers = {name: value for name, value in hook.headers.items() if name.lower() not in RESERVED_HEADERS}
    headers.update({
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Request-Id": delivery.id,
        "X-Webhook-Timestamp": str(delivery.event_timestamp),
        "X-Webhook-Event": delivery.event_name,
        "X-Webhook-Attempt": str(attempt),
    })
    if hook.hmac_key:
        headers["X-Webhook-Hmac"] = waha_hmac(hook.hmac_key, delivery.body, hook.hmac_algorithm)
        headers["X-Webhook-Hmac-Algorithm"] = hook.hmac_algorithm
    if signer is not None:
        timestamp = int(time.time())  # seconds of *this* attempt: re-signed on every retry
        headers["webhook-id"] = delivery.event_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = signer.signature(delivery.event_id, timestamp, delivery.body)
    return headers


async def post(session: aiohttp.ClientSession, hook: WebhookConfig, delivery: ClaimedDelivery,
               attempt: int, signer: StandardWebhooksSigner | None) -> AttemptAnswer:
    """POST the envelope once. Never raises for what the receiver or network does."""
    headers = build_headers(hook, delivery, attempt, signer)
    started = time.perf_counter()
    answer = AttemptAnswer()
    try:
        async with session.post(
            delivery.url,
            data=delivery.body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=hook.timeout_seconds),
            ssl=None if hook.verify_tls else False,
        ) as response:
            answer.status_code = response.status
            raw = await _read_bounded(response, hook.timeout_seconds)
            answer.response_body = raw[:STORED_RESPONSE_CHARS].decode("utf-8", "replace") or None
            if response.status in (429, 503):
                answer.retry_after = parse_retry_after(response.headers.get("Retry-After"))
    except TargetRefused as exc:
        answer.error, answer.refused = str(exc), True
    except TimeoutError:
        answer.error = f"timeout after {hook.timeout_seconds:g} s"
    except aiohttp.ClientSSLError as exc:
        answer.error = f"TLS error: {exc}"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        answer.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    answer.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    return answer


async def _read_bounded(response: aiohttp.ClientResponse, timeout: float) -> bytes:
    """Up to ``MAX_RESPONSE_BYTES`` of the body, then the response is released (the pool's
    connection is reused, or closed when the rest was not read). The status already decided the
    outcome: a body that trickles or breaks off is kept as far as it came."""
    buffered = response.content.read_nowait(MAX_RESPONSE_BYTES)
    if response.content.at_eof() or len(buffered) >= MAX_RESPONSE_BYTES:
        return buffered  # the usual case: a small body that came with the headers
    chunks: list[bytes] = [buffered]
    size = len(buffered)
    with anyio.move_on_after(min(timeout / 2, BODY_READ_SECONDS)):
        try:
            while size < MAX_RESPONSE_BYTES:
                chunk = await response.content.read(MAX_RESPONSE_BYTES - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except (aiohttp.ClientError, OSError, TimeoutError):
            pass
    return b"".join(chunks)
