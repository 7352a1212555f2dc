"""Redis down and back: engines buffer within a bound (or block), spool to disk when stopped
meanwhile, and lose nothing; workers wait and reconnect. A real redis-server of the test's own
(append-only file, fsync always) is stopped and started again on the same port and data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from redis_server import RedisServer, redis_prefix_fixture  # noqa: F401 - fixtures
from structlog.testing import capture_logs
from test_store_contract import claim, deliveries, events, outcome

from plugins.webhook.redis_store import RedisDeliveryStore
from plugins.webhook.store import DeliveryFilter


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    redis = RedisServer(tmp_path / "redis", durable=True)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
async def stores(server: RedisServer, redis_prefix: str, tmp_path: Path) -> AsyncIterator[Any]:
    opened: list[RedisDeliveryStore] = []

    async def make(**options: Any) -> RedisDeliveryStore:
        options.setdefault("spool_dir", tmp_path / "spool")
        store = RedisDeliveryStore(server.url, prefix=redis_prefix, **options)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


def said(logs: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == message]


async def test_engines_buffer_while_redis_is_down_and_write_everything_when_it_is_back(server, stores):
    store = await stores(buffer_events=1000)
    with capture_logs() as logs:
        await store.add(events(1), deliveries(1))
        server.stop()
        with anyio.fail_after(5):  # accepted at once, into the buffer
            for n in range(2, 12):
                await store.add(events(n), deliveries(n))
        assert store.buffered_batches == 10
        server.start()
        with anyio.fail_after(15):
            await store.drain()
    assert await store.counts() == {"pending": 11}
    listed = await store.list_deliveries(DeliveryFilter())
    assert [r.id for r in listed] == [d.id for d in deliveries(*range(1, 12))]  # in order
    down = said(logs, "redis unreachable")
    assert len(down) == 1 and down[0]["log_level"] == "warning"  # once per outage
    assert "buffering" in down[0]["meanwhile"]
    assert len(said(logs, "redis reachable again")) == 1


async def test_the_buffer_is_bounded_then_intake_waits(server, stores):
    store = await stores(buffer_events=3)
    server.stop()
    for n in range(3):
        await store.add(events(n), deliveries(n))
    finished = anyio.Event()

    async def fourth() -> None:
        await store.add(events(3), deliveries(3))
        finished.set()

    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(fourth)
            await anyio.wait_all_tasks_blocked()
            assert not finished.is_set()  # the bound is reached: the caller (the bus) waits
            server.start()
            with anyio.fail_after(15):
                await finished.wait()
                await store.drain()
    assert len(said(logs, "redis buffer full, intake waits for redis")) == 1
    assert await store.counts() == {"pending": 4}


async def test_block_mode_holds_intake_until_redis_answers(server, stores):
    store = await stores(outage="block")
    server.stop()
    finished = anyio.Event()

    async def write() -> None:
        await store.add(events(1), deliveries(1))
        finished.set()

    with capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            await anyio.wait_all_tasks_blocked()
            assert not finished.is_set()
            server.start()
    assert await store.counts() == {"pending": 1}
    assert store.buffered_batches == 0
    assert [e["meanwhile"] for e in said(logs, "redis unreachable")] == ["waiting for it"]


async def test_a_stop_during_an_outage_spools_to_disk_and_the_next_start_writes_it(server, stores, tmp_path):
    first = await stores()
    server.stop()
    await first.add(events(1, 2), deliveries(1, 2))
    with capture_logs() as logs:
        await first.close()
    spooled = list((tmp_path / "spool").glob("*.msgpack"))
    assert len(spooled) == 1
    assert said(logs, "redis unreachable at shutdown: buffered deliveries spooled to disk, "
                      "written to redis by the next start on this host")[0]["events"] == 2
    server.start()
    second = await stores()
    with anyio.fail_after(15):
        await second.drain()
    assert await second.counts() == {"pending": 2}
    assert list((tmp_path / "spool").glob("*.msgpack")) == []


async def test_workers_wait_through_an_outage_and_carry_on(server, stores):
    engines, worker = await stores(), await stores()
    await engines.add(events(1, 2), deliveries(1, 2))
    [first] = await claim(worker, limit=1)
    server.stop()
    results: dict[str, Any] = {}

    async def carry_on() -> None:
        await worker.record([outcome(first, "delivered")])
        results["next"] = await claim(worker)

    async with anyio.create_task_group() as tg:
        tg.start_soon(carry_on)
        await anyio.wait_all_tasks_blocked()
        assert not results
        server.start()  # the append-only file brings every delivery back
    assert [d.id for d in results["next"]] == ["dlv_hook_0002"]
    assert await worker.counts() == {"delivered": 1, "in_flight": 1}
