"""Delivery that loses nothing: a receiver that is down for a while, ``kill -9`` of a real
``python -m core`` during a burst, and SIGTERM during delivery; restarts on the same store."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import anyio
from webhook_process import core_process
from webhook_receiver import Receiver, delayed, free_port, ok
from webhook_service import (
    build_service,
    message,
    store_file,
    watch_logs,
    write_config,
    write_records,
)


def stored(config: Path) -> dict[str, tuple[str, str]]:
    """Straight from the SQLite file: event id -> (delivery status, delivery id)."""
    with closing(sqlite3.connect(store_file(config))) as conn:
        return {event_id: (status, delivery_id) for event_id, status, delivery_id in conn.execute(
            "SELECT e.id, d.status, d.id FROM deliveries d JOIN events e ON e.id = d.event_id")}


async def test_a_receiver_down_for_a_while_then_up_gets_every_event_once(tmp_path):
    port = free_port()  # nobody listens: connection refused
    service = build_service(
        tmp_path, sessions={"default": [message("1@c.us", n) for n in range(20)]},
        webhooks=[{"url": f"http://127.0.0.1:{port}/hook", "events": ["message"],
                   "retries": {"delay_seconds": 0.05, "attempts": 1000},
                   "circuit_breaker": {"failures": 0}}])
    done = anyio.Event()

    async def run() -> None:
        await service.run_to_end(timeout=20)
        done.set()

    with watch_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            failed = await logs.wait_for("delivery attempt", count=40, where=lambda e: e["error"])
            async with Receiver(port=port) as rx:
                with anyio.fail_after(10):
                    await done.wait()
    assert all(e["status"] is None and "Connect" in e["error"] for e in failed)
    assert any(e["attempt"] >= 2 for e in failed)
    received = Counter(r.json()["payload"]["seq"] for r in rx.requests)
    assert received == Counter(range(20))  # every event, none twice
    assert all(r.answered == 200 for r in rx.requests)
    assert service.kernel.summary()["webhook"]["delivered"] == 20


async def test_kill_9_during_a_burst_then_restart_delivers_every_event(tmp_path, scripted_site):
    count = 300
    recording = write_records(tmp_path / "burst.jsonl", [message(f"{n % 7}@c.us", n) for n in range(count)])
    empty = write_records(tmp_path / "nothing.jsonl", [])
    async with Receiver() as rx:
        rx.respond("/hook", then=delayed(0.02))  # a slow receiver: the burst queues up
        config = write_config(tmp_path / "svc.toml", webhooks=[
            {"url": rx.url(), "events": ["message"], "retries": {"delay_seconds": 0.05, "attempts": 50}}])
        args = ("--config", str(config), "replay")
        async with core_process(scripted_site, *args, str(recording), "--engine", "SCRIPTED",
                                cwd=tmp_path) as first:
            await first.wait_log("intake stopped")
            await rx.wait_for(40)
            first.process.kill()
            assert await first.wait() == -9
        before_restart = stored(config)
        received_before = len(rx.requests)
        assert len(before_restart) == count  # every event was in the store before the kill
        assert 0 < sum(status == "delivered" for status, _ in before_restart.values()) < count

        rx.respond("/hook", then=ok())
        async with core_process(scripted_site, *args, str(empty), "--engine", "SCRIPTED",
                                cwd=tmp_path) as second:
            assert await second.wait() == 0, "\n".join(second.stderr_lines[-20:])
            await second.wait_log("resuming deliveries interrupted by a stop or crash")

    seqs = Counter(r.json()["payload"]["seq"] for r in rx.requests)
    assert set(seqs) == set(range(count))  # every event of the burst was delivered
    by_event = Counter(r.event_id for r in rx.requests)
    twice = {event_id for event_id, n in by_event.items() if n > 1}
    # Duplicates only where an attempt's answer was lost: the store had not recorded it.
    assert all(before_restart[event_id][0] != "delivered" for event_id in twice)
    assert all(n <= 2 for n in by_event.values())
    assert received_before < len(rx.requests)
    after = stored(config)
    assert set(after) == set(by_event) and {s for s, _ in after.values()} == {"delivered"}


async def test_sigterm_exits_0_within_the_grace_period_and_leaves_the_rest_in_the_store(
        tmp_path, scripted_site):
    count, grace = 30, 5
    recording = write_records(tmp_path / "events.jsonl", [message("1@c.us", n) for n in range(count)])
    empty = write_records(tmp_path / "nothing.jsonl", [])
    async with Receiver() as rx:
        rx.respond("/hook", then=delayed(0.3))
        config = write_config(tmp_path / "svc.toml", kernel={"grace_seconds": grace}, webhooks=[
            {"url": rx.url(), "events": ["message"], "concurrency": 4}])
        args = ("--config", str(config), "replay")
        async with core_process(scripted_site, *args, str(recording), "--engine", "SCRIPTED",
                                cwd=tmp_path) as first:
            await rx.wait_for(4)  # four requests in flight, the rest waiting in the store
            first.process.terminate()
            sent = time.monotonic()
            assert await first.wait(timeout=grace + 5) == 0, "\n".join(first.stderr_lines[-20:])
            stopped_in = time.monotonic() - sent
            await first.wait_log("signal received, stopping", signal="SIGTERM")
        assert stopped_in < grace
        after_stop = stored(config)
        statuses = Counter(status for status, _ in after_stop.values())
        # In-flight requests finished within the grace period; nothing is left claimed.
        assert statuses["in_flight"] == 0 and statuses["pending"] > 0
        assert {e for e, (s, _) in after_stop.items() if s == "delivered"} == {r.event_id for r in rx.requests}
        assert all(r.answered == 200 for r in rx.requests)

        rx.respond("/hook", then=ok())
        async with core_process(scripted_site, *args, str(empty), "--engine", "SCRIPTED",
                                cwd=tmp_path) as second:
            assert await second.wait() == 0, "\n".join(second.stderr_lines[-20:])
    assert Counter(r.json()["payload"]["seq"] for r in rx.requests) == Counter(range(count))
    assert {s for s, _ in stored(config).values()} == {"delivered"}
