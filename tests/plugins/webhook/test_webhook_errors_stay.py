"""An error in one delivery stays in that delivery ([hardening] §3): a retry computation that
raises, a receiver answering garbage or oversized headers, and the store refusing to record
one endpoint's outcomes or to claim its deliveries are logged against that delivery and
endpoint; the other endpoint keeps delivering and the sink never restarts."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing

from webhook_receiver import Receiver, fail
from webhook_service import attempts_by_url, build_service, message, store_file, store_statuses, watch_logs

from plugins.webhook.dispatcher import FALLBACK_RETRY_SECONDS
from plugins.webhook.sqlite_store import SQLiteDeliveryStore, now_ms

EVENTS = 30
RECORDS = [message(f"{n % 3}@c.us", n) for n in range(EVENTS)]

#: Answers no HTTP client can take: the parser refuses each of them.
GARBAGE = {
    "/oversized-header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 0\r\n\r\n",
    "/not-http": b"\x00\x01\x02 not http at all\r\n\r\n",
    "/too-many-headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(20_000))
                         + b"Content-Length: 0\r\n\r\n",
    "/bad-header-name": b"HTTP/1.1 200 OK\r\nBad Header Name: x\r\nContent-Length: 0\r\n\r\n",
}


@asynccontextmanager
async def garbage_server() -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 that reads a request and answers ``GARBAGE[path]``."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            path = (await reader.readline()).split()[1].decode()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(GARBAGE[path])
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def no_restart(logs) -> None:
    assert logs.find("unit crashed, restarting") == []


async def test_a_retry_computation_that_raises_stays_in_its_delivery(tmp_path):
    async with Receiver() as rx:
        rx.respond("/bad", then=fail(500))
        service = build_service(tmp_path, sessions={"default": RECORDS}, exit_when_done=False, webhooks=[
            {"url": rx.url("/good"), "events": ["message"]},
            {"url": rx.url("/bad"), "events": ["message"], "name": "bad", "circuit_breaker": {"failures": 0}}])
        # What validation refuses at start today, set behind its back: a delay of nan seconds.
        [_, bad] = service.app.config.section("webhooks")
        bad.retries.delay_seconds = math.nan
        with watch_logs() as logs:
            async with service.running():
                await rx.wait_delivered(EVENTS, "/good")
                fallbacks = await logs.wait_for(
                    "cannot compute the retry of a failed attempt; using the fallback delay", count=EVENTS)
    no_restart(logs)
    assert len(rx.at("/bad")) == EVENTS  # each tried once, none twice: the retry waits
    assert {e["endpoint"] for e in fallbacks} == {"bad"}
    assert all(e["log_level"] == "error" and e["status"] == 500 and "nan" in e["error"] for e in fallbacks)
    assert {e["delivery_id"] for e in fallbacks} == {r.request_id for r in rx.at("/bad")}
    assert store_statuses(service.config) == {(rx.url("/good"), "delivered"): EVENTS, ("bad", "pending"): EVENTS}
    for row, attempts in (await attempts_by_url(service.config))[rx.url("/bad")]:
        assert row.status == "pending" and [a.status for a in attempts] == [500]
        assert row.next_attempt_at > now_ms() + (FALLBACK_RETRY_SECONDS - 10) * 1000


async def test_garbage_and_oversized_answer_headers_are_failed_attempts_of_their_endpoint(tmp_path):
    async with Receiver() as rx, garbage_server() as port:
        webhooks = [{"url": rx.url("/good"), "events": ["message"]},
                    *({"url": f"http://127.0.0.1:{port}{path}", "events": ["message"],
                       "retries": {"schedule": [0.01]}, "circuit_breaker": {"failures": 0}} for path in GARBAGE)]
        service = build_service(tmp_path, sessions={"default": RECORDS}, webhooks=webhooks)
        with watch_logs() as logs:
            await service.run_to_end(timeout=30)
    no_restart(logs)
    assert len(rx.delivered("/good")) == EVENTS
    stored = await attempts_by_url(service.config)
    for path in GARBAGE:
        found = stored[f"http://127.0.0.1:{port}{path}"]
        assert len(found) == EVENTS
        for row, attempts in found:
            assert row.status == "dead" and len(attempts) == 2  # the first try and one retry
            assert all(a.status is None and a.error.startswith("ClientResponseError: 400") for a in attempts)
    dead = logs.find("delivery dead")
    assert len(dead) == EVENTS * len(GARBAGE) and all(e["log_level"] == "error" for e in dead)
    assert service.kernel.summary()["webhook"]["delivered"] == EVENTS


async def _store_with_trigger(config, trigger: str) -> None:
    """The store file, created the way the service creates it, with a trigger of the test's."""
    store = SQLiteDeliveryStore(store_file(config))
    await store.open()
    await store.close()
    with closing(sqlite3.connect(store_file(config))) as conn:
        conn.execute(trigger)
        conn.commit()


def _drop(config, trigger: str) -> None:
    with closing(sqlite3.connect(store_file(config), timeout=10)) as conn:
        conn.execute(f"DROP TRIGGER {trigger}")
        conn.commit()


async def test_a_store_error_while_recording_stays_with_its_deliveries(tmp_path):
    async with Receiver() as rx:
        service = build_service(tmp_path, sessions={"default": RECORDS}, exit_when_done=False, webhooks=[
            {"url": rx.url("/good"), "events": ["message"]},
            {"url": rx.url("/refused"), "events": ["message"], "name": "refused"}])
        await _store_with_trigger(service.config, (
            "CREATE TRIGGER refuse BEFORE INSERT ON attempts WHEN (SELECT endpoint FROM deliveries"
            " WHERE id = NEW.delivery_id) = 'refused' BEGIN SELECT RAISE(ABORT, 'the disk says no'); END"))
        with watch_logs() as logs:
            async with service.running(timeout=30):
                await rx.wait_delivered(EVENTS, "/refused")
                await rx.wait_delivered(EVENTS, "/good")
                refusals = await logs.wait_for(
                    "cannot store the outcome of an attempt; it is kept and stored later "
                    "(the delivery stays claimed meanwhile)", count=EVENTS)
                statuses = store_statuses(service.config)
                assert statuses[(rx.url("/good"), "delivered")] == EVENTS
                assert statuses[("refused", "in_flight")] == EVENTS  # claimed until stored
                _drop(service.config, "refuse")  # the store takes them again
                stored_late = await logs.wait_for("outcomes the store refused before are stored now",
                                                  timeout=15)
            assert store_statuses(service.config)[("refused", "delivered")] == EVENTS
    no_restart(logs)
    assert {e["endpoint"] for e in refusals} == {"refused"}
    assert all("the disk says no" in e["error"] and e["log_level"] == "warning" for e in refusals)
    assert {e["delivery_id"] for e in refusals} == {r.request_id for r in rx.at("/refused")}
    assert sum(e["deliveries"] for e in stored_late) == EVENTS
    assert len(rx.at("/refused")) == EVENTS  # stored late, never sent twice


async def test_a_store_error_while_claiming_stays_with_its_endpoint(tmp_path):
    async with Receiver() as rx:
        service = build_service(tmp_path, sessions={"default": RECORDS}, exit_when_done=False, webhooks=[
            {"url": rx.url("/good"), "events": ["message"]},
            {"url": rx.url("/unclaimable"), "events": ["message"], "name": "unclaimable"}])
        await _store_with_trigger(service.config, (
            "CREATE TRIGGER refuse_claims BEFORE UPDATE OF status ON deliveries WHEN NEW.status = 'in_flight'"
            " AND NEW.endpoint = 'unclaimable' BEGIN SELECT RAISE(ABORT, 'locked out'); END"))
        with watch_logs() as logs:
            async with service.running(timeout=30):
                await rx.wait_delivered(EVENTS, "/good")
                failures = await logs.wait_for("cannot claim deliveries from the store; trying again", count=2)
                assert rx.at("/unclaimable") == []
                _drop(service.config, "refuse_claims")
                await rx.wait_delivered(EVENTS, "/unclaimable", timeout=15)
    no_restart(logs)
    assert {e["endpoint"] for e in failures} == {"unclaimable"}
    assert all("locked out" in e["error"] and e["log_level"] == "warning" for e in failures)
