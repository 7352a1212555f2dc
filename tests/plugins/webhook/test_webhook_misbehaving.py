"""Receivers that misbehave (``webhook-contract.md`` §5): reset connections, slow headers,
slow and huge bodies (read bounded), invalid JSON answers, a self-signed certificate."""

from __future__ import annotations

import ssl

import trustme
from webhook_receiver import Receiver, delayed, ok, reset, streamed
from webhook_service import attempts_by_url, build_service, message, watch_logs

from plugins.webhook.http import STORED_RESPONSE_CHARS

TEN_MB_IN_CHUNKS = (160, b"x" * 65536)  # 160 x 64 KiB = 10 MiB


async def test_resets_timeouts_slow_and_huge_bodies_and_invalid_json(tmp_path):
    async with Receiver() as rx:
        rx.respond("/reset", reset(), reset(), then=ok())
        rx.respond("/slow-headers", delayed(1.0), then=ok())
        # A body that trickles for 4 s, and 10 MiB streamed over ~3 s: reading either to the
        # end would outlast the 1 s timeout; a bounded read takes the status and hangs up.
        rx.respond("/slow-body", then=streamed(200, 40, b"y" * 1024, 0.1))
        rx.respond("/ten-mb", then=streamed(200, *TEN_MB_IN_CHUNKS, 0.02))
        rx.respond("/ten-mb-at-once", then=ok(200, b"z" * (10 * 1024 * 1024)))
        rx.respond("/invalid-json", then=ok(200, b'{"ok": tru'))
        rx.respond("/invalid-json-500", ok(500, b'{"error": '), then=ok(200, b"<html>fine</html>"))
        paths = ["/reset", "/slow-headers", "/slow-body", "/ten-mb", "/ten-mb-at-once",
                 "/invalid-json", "/invalid-json-500"]
        webhooks = [{"url": rx.url(path), "events": ["message"], "timeout_seconds": 1.0,
                     "retries": {"schedule": [0.01, 0.01, 0.01]}} for path in paths]
        webhooks[1]["timeout_seconds"] = 0.3
        service = build_service(tmp_path, webhooks=webhooks, sessions={"default": [message("1@c.us", 1)]})
        with watch_logs() as logs:
            await service.run_to_end(timeout=20)
            await rx.wait_until(lambda: rx.hung_up.get("/ten-mb") and rx.hung_up.get("/slow-body"))
    assert service.kernel.summary()["webhook"]["delivered"] == len(paths)
    stored = {url.rsplit("/", 1)[1]: found for url, found in (await attempts_by_url(service.config)).items()}

    def attempts(name: str):
        [(row, tries)] = stored[name]
        assert row.status == "delivered"
        return tries

    reset_tries = attempts("reset")
    assert [(a.status, bool(a.error)) for a in reset_tries] == [(None, True), (None, True), (200, False)]
    assert [r.answered for r in rx.at("/reset")] == [None, None, 200]
    slow = attempts("slow-headers")
    assert [(a.status, a.error) for a in slow] == [(None, "timeout after 0.3 s"), (200, None)]
    assert 250 <= slow[0].duration_ms < 900
    for name in ("slow-body", "ten-mb", "ten-mb-at-once"):
        [attempt] = attempts(name)
        assert attempt.status == 200 and attempt.error is None
        assert attempt.duration_ms < 1000  # the status counted; the body was not waited for
        assert len(attempt.response_body) <= STORED_RESPONSE_CHARS
    assert rx.body_bytes_sent["/ten-mb"] < 10 * 1024 * 1024  # the client hung up early
    assert rx.body_bytes_sent["/slow-body"] < 40 * 1024
    [attempt] = attempts("invalid-json")
    assert (attempt.status, attempt.response_body) == (200, '{"ok": tru')
    assert [(a.status, a.response_body) for a in attempts("invalid-json-500")] == [
        (500, '{"error": '), (200, "<html>fine</html>")]
    errors = [e for e in logs.find("delivery attempt") if e["error"]]
    assert {e["url"].rsplit("/", 1)[1] for e in errors} == {"reset", "slow-headers"}


async def test_a_self_signed_certificate_fails_with_verification_and_passes_without(tmp_path):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    async with Receiver(ssl_context=server_context) as rx:
        assert rx.url("/verified").startswith("https://127.0.0.1:")
        webhooks = [
            {"url": rx.url("/verified"), "events": ["message"], "retries": {"schedule": [0.01]}},
            {"url": rx.url("/unverified"), "events": ["message"], "verify_tls": False},
        ]
        service = build_service(tmp_path, webhooks=webhooks, sessions={"default": [message("1@c.us", 1)]})
        with watch_logs() as logs:
            await service.run_to_end()
    assert rx.at("/verified") == []  # the handshake failed: no request was ever made
    [unverified] = rx.at("/unverified")
    assert unverified.answered == 200
    stored = await attempts_by_url(service.config)
    [(row, tries)] = stored[rx.url("/verified")]
    assert row.status == "dead" and len(tries) == 2
    assert all(a.status is None and a.error.startswith("TLS error") for a in tries)
    assert "certificate verify failed" in tries[0].error
    [dead] = logs.find("delivery dead")
    assert dead["error"].startswith("TLS error") and dead["log_level"] == "error"
    [(row, tries)] = stored[rx.url("/unverified")]
    assert row.status == "delivered"


async def test_a_cookie_a_receiver_sets_is_never_sent_back(tmp_path):
    async with Receiver() as rx:
        rx.respond("/hook", then=ok(headers={"Set-Cookie": "session=abc; Path=/"}))
        url = rx.url().replace("127.0.0.1", "localhost")  # a host name: a cookie jar would keep it
        service = build_service(tmp_path, webhooks=[{"url": url, "events": ["message"], "concurrency": 1}],
                                sessions={"default": [message("1@c.us", n) for n in range(3)]})
        await service.run_to_end()
    assert len(rx.requests) == 3
    assert all("Cookie" not in r.headers for r in rx.requests)
