"""Many processes on one Redis, each a real ``python -m core``: an ``engines`` process writes a
burst, ``worker`` processes deliver it. A worker ``kill -9``-ed mid-burst and a Redis restarted
during ingest lose nothing; a delivery is sent twice only when a worker died between sending it
and storing its outcome, and every such take-over is counted in the store."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from redis_server import RedisServer, redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures
from webhook_process import CoreProcess, core_process
from webhook_receiver import Receiver, delayed
from webhook_service import message, write_config, write_records

from plugins.webhook.redis_store import RedisDeliveryStore

pytestmark = pytest.mark.slow


def config_for(tmp_path: Path, url: str, prefix: str, rx: Receiver, **delivery: Any) -> Path:
    return write_config(tmp_path / "hookwire.toml", webhooks=[
        {"url": rx.url(), "events": ["message"], "concurrency": 6,
         "retries": {"delay_seconds": 0.05, "attempts": 50}}],
        delivery={"backend": "redis", "redis_url": url, "redis_prefix": prefix, **delivery})


async def store_stats(url: str, prefix: str) -> tuple[dict[str, int], dict[str, int]]:
    store = RedisDeliveryStore(url, prefix=prefix, wait=False)
    await store.open()
    try:
        return await store.counts(), await store.stats()
    finally:
        await store.close()


async def wait_all_delivered(url: str, prefix: str, count: int, timeout: float = 30) -> None:
    """Until the store says every delivery is delivered (taken-over ones are sent again after
    the receiver may already have every event once). The store has no notification: poll."""
    with anyio.fail_after(timeout):
        while (await store_stats(url, prefix))[0] != {"delivered": count}:
            await anyio.sleep(0.1)


@pytest.fixture
async def workers(scripted_site: Path, tmp_path: Path) -> AsyncIterator[Any]:
    """``await start(config, n)``: ``n`` worker processes (``--role worker``), stopped with
    SIGTERM at the end (each must exit 0)."""
    async with AsyncExitStack() as stack:
        started: list[CoreProcess] = []

        async def start(config: Path, count: int) -> list[CoreProcess]:
            for index in range(count):
                proc = await stack.enter_async_context(core_process(
                    scripted_site, "--config", str(config), "--role", "worker", cwd=tmp_path,
                    env={"HOOKWIRE_WORKER_ID": f"w{index}"}))
                await proc.wait_log("kernel ready")
                started.append(proc)
            return started

        yield start
        for proc in started:
            if proc.process.returncode is None:
                proc.process.terminate()
                assert await proc.wait() == 0, "\n".join(proc.stderr_lines[-20:])


async def test_kill_9_of_one_of_three_workers_mid_burst_loses_nothing(
        scripted_site, tmp_path, redis_url, redis_prefix, workers):
    count = 400
    burst = write_records(tmp_path / "burst.jsonl", [message(f"{n % 9}@c.us", n) for n in range(count)])
    async with Receiver() as rx:
        rx.respond("/hook", then=delayed(0.03))  # slow enough that every worker is mid-attempt
        config = config_for(tmp_path, redis_url, redis_prefix, rx, redis_reclaim_seconds=1.0)
        victim, *survivors = await workers(config, 3)
        async with core_process(scripted_site, "--config", str(config), "--role", "engines", "replay",
                                str(burst), "--engine", "SCRIPTED", cwd=tmp_path) as engines:
            await victim.wait_logs("delivery attempt", count=20, timeout=30)
            victim.process.kill()
            assert await victim.wait() == -9
            await rx.wait_until(lambda: len({r.event_id for r in rx.delivered()}) == count, timeout=60)
            assert await engines.wait(timeout=30) == 0
            assert engines.found("delivery attempt") == []  # the engines role sends nothing
            await wait_all_delivered(redis_url, redis_prefix, count)
            for proc in survivors:
                proc.process.terminate()
                assert await proc.wait() == 0
    received = Counter(r.event_id for r in rx.delivered())
    assert len(received) == count  # every event delivered
    duplicates = sum(n - 1 for n in received.values())
    counts, stats = await store_stats(redis_url, redis_prefix)
    assert counts == {"delivered": count}
    # A second copy only where the killed worker had sent a request without storing its outcome:
    # each such delivery was taken over from it, and counted.
    assert duplicates <= stats.get("reclaimed", 0)
    taken_over = sum(e["deliveries"] for p in survivors for e in p.found(
        "deliveries taken over from a worker that stopped answering; they are sent again (at least once)"))
    assert taken_over == stats.get("reclaimed", 0)
    assert all(len(p.found("delivery attempt")) > 0 for p in survivors)  # the load was shared


async def test_redis_restarted_during_ingest_loses_nothing(scripted_site, tmp_path, redis_prefix, workers):
    server = RedisServer(tmp_path / "redis", durable=True)
    server.start()
    try:
        count = 300
        paced = [{**message(f"{n % 5}@c.us", n), "ts": n * 10} for n in range(count)]  # 3 s of ingest
        recording = write_records(tmp_path / "paced.jsonl", paced)
        async with Receiver() as rx:
            config = config_for(tmp_path, server.url, redis_prefix, rx, redis_reclaim_seconds=10.0)
            [worker] = await workers(config, 1)
            async with core_process(scripted_site, "--config", str(config), "--role", "engines",
                                    "replay", str(recording), "--engine", "SCRIPTED", "--pace", "recorded",
                                    cwd=tmp_path) as engines:
                await rx.wait_delivered(30, timeout=30)
                await anyio.to_thread.run_sync(server.stop)
                await engines.wait_log("redis unreachable", timeout=10)
                await anyio.to_thread.run_sync(server.start)
                await rx.wait_until(lambda: len({r.event_id for r in rx.delivered()}) == count, timeout=60)
                assert await engines.wait(timeout=30) == 0
            await wait_all_delivered(server.url, redis_prefix, count)
            worker.process.terminate()  # before its Redis goes away for good
            assert await worker.wait() == 0
            received = Counter(r.event_id for r in rx.delivered())
            counts, stats = await store_stats(server.url, redis_prefix)
            assert len(received) == count and counts == {"delivered": count}
            assert sum(n - 1 for n in received.values()) <= stats.get("reclaimed", 0)
            for proc in (engines, worker):  # warned once per outage, and told when it was over
                assert len(proc.found("redis unreachable")) <= 1
            assert len(engines.found("redis unreachable")) == 1
            assert engines.found("redis reachable again")
    finally:
        server.stop()
