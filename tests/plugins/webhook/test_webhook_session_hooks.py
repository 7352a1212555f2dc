"""Per-session webhooks set at runtime (``WebhookSink.set_session_webhooks``, what the API calls):
each event goes to exactly the webhooks in force when it was published, even while they change
under a stream of events; config-file webhooks are unaffected; an endpoint no longer used still
delivers what it was given, then its worker is retired."""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections import Counter
from typing import Any

import anyio
import pytest
from webhook_receiver import Receiver, fails_first
from webhook_service import Service, build_service, message, store_statuses, watch_logs

from core.config import SessionConfig
from core.engine import Emission
from core.kernel import KernelSessionContext
from plugins.webhook.config import CircuitBreakerConfig, RetryConfig, WebhookConfig

ALLOW_LOOPBACK = {"allow_networks": ["127.0.0.0/8"]}
EVENT_NAMES = ("message", "message.ack", "message.reaction")


def api_hook(rx: Receiver, name: str, events: list[str], **fields: Any) -> WebhookConfig:
    return WebhookConfig(url=rx.url(f"/{name}"), events=events, name=name, origin="api",
                         retries=RetryConfig(delay_seconds=0.05, attempts=20), **fields)


def session_context(service: Service, name: str) -> KernelSessionContext:
    """What an engine session of ``name`` publishes through (the kernel's own emit path)."""
    return KernelSessionContext(service.kernel, SessionConfig(name=name, engine="SCRIPTED",
                                                              replay="unused.jsonl"))


def payload(session: str, n: int) -> dict[str, Any]:
    return {"id": f"false_{session}@c.us_M{n:05d}", "from": f"{session}@c.us", "body": f"#{n}", "seq": n}


def webhook_subscription(service: Service) -> Any:
    [sub] = [s for s in service.kernel.bus.subscribers if s.name == "webhook"]
    return sub


async def test_every_event_reaches_exactly_the_webhooks_in_force_when_it_was_published(tmp_path):
    """Two sessions publish concurrently, each switching its own webhooks at random points
    (often with events still buffered on the bus or being stored); the static webhook of the
    config file applies throughout. The store and the receiver must show, per endpoint,
    exactly the events that the webhooks in force at publish time wanted."""
    rng = random.Random(20240607)
    per_session = 250
    async with Receiver() as rx:
        catalogue = {
            "a": ["message"],
            "b": ["message", "message.ack"],
            "c": ["*"],
            "d": ["message.reaction"],
        }
        service = build_service(
            tmp_path, exit_when_done=False, kernel={"bus_buffer": 4, "grace_seconds": 5},
            delivery={"batch_size": 3, **ALLOW_LOOPBACK},
            webhooks=[{"url": rx.url("/static"), "events": ["message"], "sessions": ["s2"]}])
        sink = service.sink
        expected: Counter[tuple[str, str]] = Counter()  # (endpoint key, event id)
        used_keys: set[str] = set()
        switches = {"total": 0, "with_backlog": 0}

        async def publish(session: str) -> None:
            ctx = session_context(service, session)
            in_force: dict[str, list[str]] = {}
            for n in range(per_session):
                if n == 0 or rng.random() < 0.08:
                    names = sorted(rng.sample(sorted(catalogue), rng.randint(0, 3)))
                    backlog = webhook_subscription(service).receive_stream.statistics()
                    switches["total"] += 1
                    switches["with_backlog"] += bool(backlog.current_buffer_used)
                    await sink.set_session_webhooks(
                        session, [api_hook(rx, name, catalogue[name]) for name in names])
                    in_force = {f"{session}/{name}": catalogue[name] for name in names}
                    used_keys.update(in_force)
                event_name = rng.choice(EVENT_NAMES)
                event = await ctx.emit(Emission(event_name, payload(session, n)))
                assert event is not None
                for key, events in in_force.items():
                    if "*" in events or event_name in events:
                        expected[(key, event.id)] += 1
                if session == "s2" and event_name == "message":
                    expected[(rx.url("/static"), event.id)] += 1
                if rng.random() < 0.3:
                    await anyio.sleep(0)  # let the sink take some, sometimes

        with watch_logs() as logs:
            async with service.running(timeout=60) as stop:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(publish, "s1")
                    tg.start_soon(publish, "s2")
                # After the last change, nothing more is delivered to session webhooks.
                await sink.set_session_webhooks("s1", [])
                await sink.set_session_webhooks("s2", [])
                retiring = set(sink.workers) - {rx.url("/static")}
                cleared_at = time.monotonic()
                late = await session_context(service, "s1").emit(Emission("message", payload("s1", 9999)))
                assert late is not None
                await rx.wait_delivered(sum(expected.values()), timeout=30)
                # Every endpoint that is no longer used is retired once its deliveries are final.
                await logs.wait_for("endpoint retired: no webhook uses it and its deliveries are final",
                                    count=len(retiring), timeout=15,
                                    where=lambda e: e["_at"] >= cleared_at and e["endpoint"] in retiring)
                assert set(sink.workers) == {rx.url("/static")}
                stop.set()
        retired = {e["endpoint"] for e in logs.find(
            "endpoint retired: no webhook uses it and its deliveries are final")}
        assert retired == used_keys

        # The hard case happened: switches made while events published before them were still
        # on their way (buffered on the bus, or held by a publisher waiting for room).
        assert switches["total"] >= 20 and switches["with_backlog"] >= 5, switches
        assert sink.routing.changes_with_backlog >= 5, sink.routing.changes_with_backlog

        # Exactly the expected deliveries were stored (none missing, none extra) ...
        statuses = store_statuses(service.config)
        assert {status for _, status in statuses} == {"delivered"}
        by_endpoint = Counter({endpoint: n for (endpoint, _), n in statuses.items()})
        assert by_endpoint == Counter(key for key, _ in expected.elements())
        # ... and the receiver got each expected event once at the expected endpoint.
        path_of = {f"{s}/{name}": f"/{name}" for s in ("s1", "s2") for name in catalogue}
        path_of[rx.url("/static")] = "/static"
        got: Counter[tuple[str, str]] = Counter()
        for request in rx.delivered():
            body = request.json()
            key = rx.url("/static") if request.path == "/static" else f"{body['session']}{request.path}"
            got[(key, body["id"])] += 1
        assert got == expected
        assert all(path_of[key] for key, _ in expected)


async def test_webhooks_set_before_the_run_apply_at_start_and_widen_the_subscription(tmp_path):
    """The config file only wants ``message``; a session webhook set before the start wants
    ``message.ack``, which the sink must then subscribe to."""
    records = [message("1@c.us", 0), message("1@c.us", 1, name="message.ack"),
               message("1@c.us", 2), message("1@c.us", 3, name="message.ack"),
               message("1@c.us", 4, name="message.reaction")]
    async with Receiver() as rx:
        service = build_service(tmp_path, sessions={"default": records, "other": records},
                                webhooks=[{"url": rx.url("/static"), "events": ["message"]}],
                                delivery=ALLOW_LOOPBACK)
        assert service.sink.events == frozenset({"message"})
        await service.sink.set_session_webhooks("default", [api_hook(rx, "acks", ["message.ack"])])
        assert service.sink.events == frozenset({"message", "message.ack"})
        await service.run_to_end()
        acks = rx.delivered("/acks")
        assert sorted((r.json()["session"], r.json()["payload"]["seq"]) for r in acks) == [
            ("default", 1), ("default", 3)]
        assert all(r.json()["event"] == "message.ack" for r in acks)
        static = rx.delivered("/static")
        assert sorted((r.json()["session"], r.json()["payload"]["seq"]) for r in static) == [
            ("default", 0), ("default", 2), ("other", 0), ("other", 2)]


async def test_a_removed_endpoint_still_delivers_what_it_was_given_then_retires(tmp_path):
    """Events matched before a change keep their deliveries (here still being retried) on the
    endpoint the change removed; events after it go to the new one only."""
    async with Receiver() as rx:
        rx.respond("/flaky", then=fails_first(3))
        service = build_service(tmp_path, exit_when_done=False, webhooks=[], delivery=ALLOW_LOOPBACK)
        sink = service.sink
        with watch_logs() as logs:
            async with service.running(timeout=30) as stop:
                ctx = session_context(service, "s1")
                no_breaker = CircuitBreakerConfig(failures=0)  # 15 failures in a row are planned
                await sink.set_session_webhooks(
                    "s1", [api_hook(rx, "flaky", ["message"], circuit_breaker=no_breaker)])
                before = [await ctx.emit(Emission("message", payload("s1", n))) for n in range(5)]
                await rx.wait_for(5, "/flaky")  # first attempts made and failed
                await sink.set_session_webhooks("s1", [api_hook(rx, "fresh", ["message"])])
                after = [await ctx.emit(Emission("message", payload("s1", n))) for n in range(5, 10)]
                await rx.wait_delivered(5, "/fresh")
                await rx.wait_delivered(5, "/flaky", timeout=15)
                await logs.wait_for("endpoint retired: no webhook uses it and its deliveries are final",
                                    endpoint="s1/flaky")
                assert "s1/flaky" not in sink.workers and "s1/fresh" in sink.workers
                stop.set()
        flaky = {r.event_id for r in rx.delivered("/flaky")}
        fresh = {r.event_id for r in rx.delivered("/fresh")}
        assert flaky == {e.id for e in before if e}
        assert fresh == {e.id for e in after if e}
        assert len(rx.at("/flaky")) == 5 * 4  # three failures, then the success, per event
        assert store_statuses(service.config) == {("s1/flaky", "delivered"): 5, ("s1/fresh", "delivered"): 5}
        # Workers started at runtime log in the sink's context, not the caller's.
        assert {e.get("plugin") for e in logs.find("delivery attempt")} == {"webhook"}


async def test_each_session_signs_with_its_own_key_and_a_changed_config_applies_to_later_events(tmp_path):
    async with Receiver() as rx:
        service = build_service(tmp_path, exit_when_done=False, delivery=ALLOW_LOOPBACK,
                                webhooks=[{"url": rx.url("/static"), "events": ["message"],
                                           "name": "static"}])
        sink = service.sink
        shared = rx.url("/shared")

        def hook(key: str, version: str) -> WebhookConfig:
            return WebhookConfig(url=shared, events=["message"], origin="api", hmac_key=key,
                                 headers={"X-Version": version})

        async with service.running(timeout=30) as stop:
            await sink.set_session_webhooks("s1", [hook("key-one", "1")])
            await sink.set_session_webhooks("s2", [hook("key-two", "1")])
            for session in ("s1", "s2"):
                await session_context(service, session).emit(Emission("message", payload(session, 0)))
            await rx.wait_delivered(2, "/shared")
            await sink.set_session_webhooks("s1", [hook("key-one", "2")])
            await session_context(service, "s1").emit(Emission("message", payload("s1", 1)))
            await rx.wait_delivered(3, "/shared")
            stop.set()
        seen = []
        for request in rx.delivered("/shared"):
            body = request.json()
            key = {"s1": b"key-one", "s2": b"key-two"}[body["session"]]
            assert request.headers["X-Webhook-Hmac"] == hmac.new(key, request.body, hashlib.sha512).hexdigest()
            seen.append((body["session"], body["payload"]["seq"], request.headers["X-Version"]))
        assert sorted(seen) == [("s1", 0, "1"), ("s1", 1, "2"), ("s2", 0, "1")]
        # Two sessions, one URL: two endpoints (each with its own settings).
        assert set(store_statuses(service.config)) == {(f"s1/{shared}", "delivered"),
                                                       (f"s2/{shared}", "delivered"),
                                                       ("static", "delivered")}


async def test_clashing_endpoint_keys_are_refused_and_nothing_changes(tmp_path):
    async with Receiver() as rx:
        service = build_service(tmp_path, delivery=ALLOW_LOOPBACK,
                                webhooks=[{"url": rx.url("/static"), "events": ["message"],
                                           "name": "s1/taken"}])
        sink = service.sink
        with pytest.raises(ValueError, match="share the endpoint 's1/dup'"):
            await sink.set_session_webhooks("s1", [api_hook(rx, "dup", ["message"]),
                                                   api_hook(rx, "dup", ["message.ack"])])
        with pytest.raises(ValueError, match="belongs to a webhook of the config file"):
            await sink.set_session_webhooks("s1", [api_hook(rx, "taken", ["message"])])
        assert sink.routing.hooks_in_use().keys() == {"s1/taken"}
        assert sink.events == frozenset({"message"})
        # Whatever origin the caller set, webhooks set per session are untrusted.
        await sink.set_session_webhooks("s1", [WebhookConfig(url=rx.url("/x"), events=["message"])])
        assert [hook.origin for hook in sink.routing.latest["s1"]] == ["api"]
        assert [hook.sessions for hook in sink.routing.latest["s1"]] == [["s1"]]
