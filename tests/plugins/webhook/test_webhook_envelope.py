"""End to end: what a receiver sees (``webhook-contract.md`` §1, §2, §4.1), from SCRIPTED
records through the kernel, the bus, the store and the dispatcher to real receivers."""

from __future__ import annotations

import os
import re
import time
from collections import defaultdict

import anyio
from webhook_receiver import Receiver, fails_first
from webhook_service import ME, build_service, message

from core import __version__
from core.events import platform_name

EVENT_ID = re.compile(r"^evt_[0-9abcdefghjkmnpqrstvwxyz]{26}$")
ENVELOPE_KEYS = ["id", "timestamp", "event", "session", "metadata", "me", "payload", "engine",
                 "environment"]
FAST = {"schedule": [0.01, 0.01, 0.01]}

S1 = [
    message("111@c.us", 1),
    {"type": "engine.event", "data": {"event": "raw.native", "data": {"n": 1}}},
    {"type": "presence.update", "data": {"id": "111@c.us", "presences": []}},
    message("111@c.us", 2, name="message.any"),
]
S2 = [
    {"type": "session.status", "data": {"name": "s2", "status": "WORKING", "statuses": []}},
    message("222@c.us", 3),
]


async def test_bodies_and_headers_to_several_webhooks_with_their_own_filters(tmp_path):
    async with Receiver() as rx:
        rx.respond("/all", then=fails_first(2))  # every event: 500, 500, then 200
        webhooks = [
            {"url": rx.url("/all"), "events": ["*"], "retries": FAST,
             "circuit_breaker": {"failures": 0},
             "headers": {"X-Custom": "custom-value"}},  # the contract's own names are refused
            {"url": rx.url("/messages-s1"), "events": ["message"], "sessions": ["s1"]},
            {"url": rx.url("/debug"), "events": ["engine.event", "session.status"]},
            {"url": rx.url("/s2"), "events": ["*"], "sessions": ["s2"]},
        ]
        service = build_service(tmp_path, webhooks=webhooks, sessions={"s1": S1, "s2": S2},
                                session_options={"s1": {"metadata": {"tenant": "t1", "zone": "eu"}}},
                                kernel={"worker_id": "worker-7"})
        started = time.time_ns() // 1_000_000
        await service.run_to_end()
        finished = time.time_ns() // 1_000_000

    by_path: dict[str, list] = defaultdict(list)
    for request in rx.requests:
        by_path[request.path].append(request)

    def names(path: str) -> list[tuple[str, str]]:
        return sorted({(r.json()["session"], r.json()["event"]) for r in by_path[path]})

    # Filters: `*` is everything but engine.event; sessions narrow; names are exact.
    assert names("/all") == [("s1", "message"), ("s1", "message.any"), ("s1", "presence.update"),
                             ("s2", "message"), ("s2", "session.status")]
    assert names("/messages-s1") == [("s1", "message")]
    assert names("/debug") == [("s1", "engine.event"), ("s2", "session.status")]
    assert names("/s2") == [("s2", "message"), ("s2", "session.status")]

    # The envelope, key by key.
    for request in rx.requests:
        body = request.json()
        with_metadata = body["session"] == "s1"
        assert sorted(body) == sorted(k for k in ENVELOPE_KEYS if with_metadata or k != "metadata")
        assert EVENT_ID.match(body["id"])
        assert isinstance(body["timestamp"], int) and started <= body["timestamp"] <= finished
        if with_metadata:
            assert body["metadata"] == {"tenant": "t1", "zone": "eu"}
        assert body["me"] == {"id": ME, "pushName": "Tester"}
        assert body["engine"] == "SCRIPTED"
        assert body["environment"] == {
            "version": __version__, "engine": "SCRIPTED", "tier": "CORE",
            "browser": os.environ.get("HOOKWIRE_CHROMIUM") or "/usr/bin/chromium",
            "platform": platform_name(), "worker": {"id": "worker-7"}}
    payloads = {(r.json()["session"], r.json()["event"]): r.json()["payload"] for r in rx.requests}
    for session, records in (("s1", S1), ("s2", S2)):
        for record in records:
            assert payloads[(session, record["type"])] == record["data"]

    # Headers on every attempt; custom ones present, never overriding ours.
    for request in rx.requests:
        body = request.json()
        headers = request.headers
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == f"hookwire/{__version__}"
        assert headers["X-Webhook-Timestamp"] == str(body["timestamp"])
        assert headers["X-Webhook-Event"] == body["event"]
        assert request.request_id.startswith("dlv_")
        for name in ("User-Agent", "X-Webhook-Event", "X-Webhook-Request-Id", "Content-Type"):
            assert request.header_count(name) == 1, name
        assert ("X-Custom" in headers) == (request.path == "/all")
        if request.path == "/all":
            assert headers["X-Custom"] == "custom-value"

    # Retries: three attempts per event on /all, numbered 1, 2, 3, one request id throughout.
    attempts: dict[str, list] = defaultdict(list)
    for request in by_path["/all"]:
        attempts[request.event_id].append(request)
    assert len(attempts) == 5
    for tries in attempts.values():
        assert [r.attempt for r in tries] == [1, 2, 3]
        assert len({r.request_id for r in tries}) == 1
    assert all(r.attempt == 1 for path in ("/messages-s1", "/debug", "/s2") for r in by_path[path])

    # One request id per (event x webhook); one body per event, byte-identical everywhere.
    ids = {(r.path, r.event_id): r.request_id for r in rx.requests}
    assert len(set(ids.values())) == len(ids) == 5 + 1 + 2 + 2
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in rx.requests:
        bodies[request.event_id].add(request.body)
    assert len(bodies) == 6
    assert all(len(variants) == 1 for variants in bodies.values())
    assert sum(len(v) for v in attempts.values()) == 15
    assert service.kernel.summary()["webhook"] == {
        "events": 6, "deliveries": 10, "delivered": 10, "dead": 0, "disabled": 0,
        "retried_attempts": 10}


async def test_the_global_webhook_from_the_environment(tmp_path):
    """WAHA's variables: events trimmed, custom header values may hold `:` (split at the first)."""
    async with Receiver() as rx:
        environ = {
            "WHATSAPP_HOOK_URL": rx.url("/global"),
            "WHATSAPP_HOOK_EVENTS": " message , session.status ",
            "WHATSAPP_HOOK_CUSTOM_HEADERS": "Authorization: Bearer a:b:c ; X-Tenant:acme;X-Url:http://x:1/y",
            "WHATSAPP_HOOK_RETRIES_ATTEMPTS": "0",
        }
        service = build_service(tmp_path, webhooks=[], environ=environ,
                                sessions={"default": [message("1@c.us", 1), message("1@c.us", 2, "message.any")]})
        with anyio.fail_after(10):
            await service.run_to_end()
    [request] = rx.requests
    assert request.path == "/global" and request.json()["event"] == "message"
    assert request.headers["Authorization"] == "Bearer a:b:c"
    assert request.headers["X-Tenant"] == "acme"
    assert request.headers["X-Url"] == "http://x:1/y"
