"""Several dispatch processes on one SQLite file, each a real ``python -m core --role worker``:
they share the load and each endpoint's in-flight limit, keep per-chat order, a starting one
leaves a live one's claims alone, and a ``kill -9``-ed one's claims are taken over at once by
the one left: nothing lost, a delivery sent twice only if it was in flight at the kill."""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, closing
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web
from webhook_process import CoreProcess, core_process
from webhook_receiver import Action, Receiver, delayed
from webhook_service import message, store_file, write_config, write_records

pytestmark = pytest.mark.slow

COUNT = 400
LIMIT = 6  # the endpoint's in-flight limit, for all processes together


def counting(limit_seen: dict[str, int], then: Action) -> Action:
    """``then``, counting the requests being answered at once (the highest in ``limit_seen``)."""
    async def answer(rx: Receiver, request: web.Request) -> web.StreamResponse:
        limit_seen["now"] = limit_seen.get("now", 0) + 1
        limit_seen["max"] = max(limit_seen.get("max", 0), limit_seen["now"])
        try:
            return await then(rx, request)
        finally:
            limit_seen["now"] -= 1
    return answer


def statuses(config: Path) -> Counter[str]:
    with closing(sqlite3.connect(store_file(config), timeout=10)) as conn:
        return Counter(dict(conn.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall()))


@pytest.fixture
async def start_worker(scripted_site: Path, tmp_path: Path) -> AsyncIterator[Any]:
    """``await start_worker(config)``: a ``--role worker`` process, ready; SIGTERM-ed at the
    end (it must exit 0) unless the test killed it."""
    async with AsyncExitStack() as stack:
        started: list[CoreProcess] = []

        async def start(config: Path) -> CoreProcess:
            proc = await stack.enter_async_context(core_process(
                scripted_site, "--config", str(config), "--role", "worker", cwd=tmp_path))
            await proc.wait_log("kernel ready")
            started.append(proc)
            return proc

        yield start
        for proc in started:
            if proc.process.returncode is None:
                proc.process.terminate()
                assert await proc.wait() == 0, "\n".join(proc.stderr_lines[-20:])


async def test_two_dispatchers_share_a_store_and_one_killed_loses_nothing(scripted_site, tmp_path, start_worker):
    seen: dict[str, int] = {}
    burst = write_records(tmp_path / "burst.jsonl", [message(f"{n % 8}@c.us", n) for n in range(COUNT)])
    async with Receiver() as rx:
        rx.respond("/hook", then=counting(seen, delayed(0.1)))
        rx.respond("/ordered", then=delayed(0.01))
        config = write_config(tmp_path / "svc.toml", webhooks=[
            {"url": rx.url("/hook"), "events": ["message"], "concurrency": LIMIT},
            {"url": rx.url("/ordered"), "events": ["message"], "ordering": "chat", "concurrency": 4}])
        async with core_process(scripted_site, "--config", str(config), "--role", "engines", "replay",
                                str(burst), "--engine", "SCRIPTED", cwd=tmp_path) as engines:
            assert await engines.wait() == 0, "\n".join(engines.stderr_lines[-20:])
        first = await start_worker(config)
        await rx.wait_for(20, "/hook", timeout=20)
        second = await start_worker(config)
        # The second one started while the first held claims: it resumed none of them.
        assert second.found("resuming deliveries interrupted by a stop or crash") == []
        await second.wait_logs("dispatchers sharing the store", timeout=10)
        await second.wait_logs("delivery attempt", count=10, timeout=20)
        first.process.kill()  # kill -9, mid-burst
        assert await first.wait() == -9
        [taken] = await second.wait_logs(
            "deliveries claimed by a dispatcher that stopped are resumed (at least once: an attempt "
            "whose outcome it did not store is sent again)", timeout=15)
        await rx.wait_until(lambda: len({r.event_id for r in rx.delivered("/hook")}) == COUNT
                            and len({r.event_id for r in rx.delivered("/ordered")}) == COUNT, timeout=60)
        with anyio.fail_after(20):  # the survivor stores its last outcomes
            while statuses(config) != Counter({"delivered": 2 * COUNT}):
                await anyio.sleep(0.1)
    # Both delivered a share; the limit held across the two (the first alone had it all).
    assert first.found("delivery attempt") and second.found("delivery attempt")
    assert seen["max"] <= LIMIT
    # Sent twice only what the killed one had in flight (claimed, outcome not stored).
    for path in ("/hook", "/ordered"):
        twice = sum(n - 1 for n in Counter(r.event_id for r in rx.at(path)).values())
        assert twice <= taken["deliveries"]
    # Per-chat order: the first arrival of each event of a chat comes in publish order.
    order: dict[str, list[int]] = defaultdict(list)
    for request in rx.at("/ordered"):
        seq = request.json()["payload"]["seq"]
        chat = request.json()["payload"]["from"]
        if seq not in order[chat]:
            order[chat].append(seq)
    assert all(seqs == sorted(seqs) for seqs in order.values()) and len(order) == 8
