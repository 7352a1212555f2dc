"""A webhook receiver for humans: logs what arrives, checks signatures, misbehaves on purpose.

``python -m core receive`` runs it; the embedded default runs the same code in-process as its
target. With ``--hmac-key`` it checks ``X-Webhook-Hmac``; with ``--secret`` it checks the
Standard Webhooks signature; a bad signature is answered 401 and logged.
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Callable
from typing import Any

import anyio
import msgspec
from aiohttp import web

from core.logging import get_logger
from plugins.webhook.signing import StandardWebhooksSigner, waha_hmac

log = get_logger("plugins.webhook.receiver")


class ReceiverOptions(msgspec.Struct, kw_only=True):
    hmac_key: str | None = None
    secret: str | None = None
    #: Share of requests answered with ``status`` (0 = none, unless ``status`` alone is set).
    fail_rate: float = 0.0
    #: The failure status; alone (fail_rate 0) every request gets it.
    status: int | None = None
    #: Seconds to wait before answering.
    delay: float = 0.0
    #: Log full bodies and headers (the CLI) or a compact line (the in-process demo).
    verbose: bool = True


def check_signatures(options: ReceiverOptions, body: bytes, headers: Any) -> str | None:
    """``None`` when every configured signature checks out, else what is wrong."""
    if options.hmac_key:
        algorithm = headers.get("X-Webhook-Hmac-Algorithm", "sha512")
        if algorithm not in ("sha512", "sha256"):
            return f"unknown X-Webhook-Hmac-Algorithm {algorithm!r}"
        expected = waha_hmac(options.hmac_key, body, algorithm)
        if not hmac.compare_digest(expected, headers.get("X-Webhook-Hmac", "")):
            return "X-Webhook-Hmac does not match"
    if options.secret:
        msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if not msg_id or not stamp.isdigit():
            return "webhook-id or webhook-timestamp missing"
        expected_sig = StandardWebhooksSigner([options.secret]).signature(msg_id, int(stamp), body)
        offered = headers.get("webhook-signature", "").split()
        if not any(hmac.compare_digest(expected_sig, sig) for sig in offered):
            return "webhook-signature does not match"
    return None


def answer_status(options: ReceiverOptions, rand: Callable[[], float]) -> int:
    if options.fail_rate > 0:
        return (options.status or 500) if rand() < options.fail_rate else 200
    return options.status or 200


def make_app(options: ReceiverOptions, on_event: Callable[[dict[str, Any]], None] | None = None,
             rand: Callable[[], float] = random.random) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        problem = check_signatures(options, body, request.headers)
        if problem:
            log.warning("webhook rejected: bad signature", error=problem,
                        request_id=request.headers.get("X-Webhook-Request-Id"))
            return web.json_response({"error": problem}, status=401)
        try:
            envelope = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            log.warning("webhook rejected: body is not JSON", error=str(exc))
            return web.json_response({"error": "body is not JSON"}, status=400)
        fields: dict[str, Any] = dict(
            event_name=envelope.get("event") if isinstance(envelope, dict) else None,
            session=envelope.get("session") if isinstance(envelope, dict) else None,
            event_id=envelope.get("id") if isinstance(envelope, dict) else None,
            request_id=request.headers.get("X-Webhook-Request-Id"),
            attempt=request.headers.get("X-Webhook-Attempt"),
            signed=bool(options.hmac_key or options.secret),
        )
        if options.verbose:
            fields["headers"] = dict(request.headers)
            fields["body"] = envelope
        else:
            fields["payload"] = body[:160].decode("utf-8", "replace") + ("…" if len(body) > 160 else "")
        if options.delay:
            await anyio.sleep(options.delay)
        status = answer_status(options, rand)
        log.info("webhook received", status=status, **fields)
        if on_event is not None and isinstance(envelope, dict):
            on_event(envelope)
        return web.json_response({"ok": status < 300}, status=status)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", handle)
    return app


async def start_receiver(options: ReceiverOptions, host: str = "127.0.0.1", port: int = 0,
                         on_event: Callable[[dict[str, Any]], None] | None = None) -> tuple[web.AppRunner, int]:
    """Start listening; returns the runner (``await runner.cleanup()`` to stop) and the port."""
    runner = web.AppRunner(make_app(options, on_event), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    bound = server.sockets[0].getsockname()[1] if server is not None and server.sockets else port
    return runner, bound

