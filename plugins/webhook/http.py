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


class EndpointRequest:
    """What every request to one endpoint shares, computed once per endpoint (the per-delivery
    path only adds the delivery's own headers): the fixed headers, the signers, the timeout."""

    def __init__(self, hook: WebhookConfig) -> None:
        self.hook = hook
        self.headers = {name: value for name, value in hook.headers.items()
                        if name.lower() not in RESERVED_HEADERS}
        self.headers["Content-Type"] = "application/json"
        self.headers["User-Agent"] = USER_AGENT
        self.signer = StandardWebhooksSigner(hook.secrets) if hook.secrets else None
        self.timeout = aiohttp.ClientTimeout(total=hook.timeout_seconds)
        self.ssl: bool | None = None if hook.verify_tls else False

    def headers_for(self, delivery: ClaimedDelivery, attempt: int) -> dict[str, str]:
        hook = self.hook
        headers = self.headers.copy()
        headers["X-Webhook-Request-Id"] = delivery.id
        headers["X-Webhook-Timestamp"] = str(delivery.event_timestamp)
        headers["X-Webhook-Event"] = delivery.event_name
        headers["X-Webhook-Attempt"] = str(attempt)
        if hook.hmac_key:
            headers["X-Webhook-Hmac"] = waha_hmac(hook.hmac_key, delivery.body, hook.hmac_algorithm)
            headers["X-Webhook-Hmac-Algorithm"] = hook.hmac_algorithm
        if self.signer is not None:
            timestamp = int(time.time())  # seconds of *this* attempt: re-signed on every retry
            headers["webhook-id"] = delivery.event_id
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = self.signer.signature(delivery.event_id, timestamp, delivery.body)
        return headers


def build_headers(hook: WebhookConfig, delivery: ClaimedDelivery, attempt: int,
                  signer: StandardWebhooksSigner | None = None) -> dict[str, str]:
    """The headers of one attempt (``webhook-contract.md`` §4)."""
    return EndpointRequest(hook).headers_for(delivery, attempt)


async def post(session: aiohttp.ClientSession, target: EndpointRequest | WebhookConfig,
               delivery: ClaimedDelivery, attempt: int, signer: StandardWebhooksSigner | None = None) -> AttemptAnswer:
    """POST the envelope once. Never raises for what the receiver, the network or a header
    value does: every failure is the answer's ``error``."""
    request = target if isinstance(target, EndpointRequest) else EndpointRequest(target)
    hook = request.hook
    started = time.perf_counter()
    answer = AttemptAnswer()
    try:
        async with session.post(
            delivery.url,
            data=delivery.body,
            headers=request.headers_for(delivery, attempt),
            allow_redirects=False,
            timeout=request.timeout,
            ssl=request.ssl,
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
    except Exception as exc:
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
