"""What the Redis store adds to the contract: several workers (each a store, i.e. a consumer of
the group) sharing one Redis: claims never overlap, limits and the circuit breaker hold across
them, a silent worker's claims are taken over, a live one's never are."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest
from redis_server import redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures
from structlog.testing import capture_logs
from test_store_contract import HOOK, HOOK_URL, claim, deliveries, events, outcome

from plugins.webhook.redis_store import EndpointSettings, RedisDeliveryStore
from plugins.webhook.sqlite_store import now_ms

Workers = Callable[..., Awaitable[RedisDeliveryStore]]


@pytest.fixture
async def worker(redis_url: str, redis_prefix: str) -> AsyncIterator[Workers]:
    """``await worker(...)``: one more open store (a worker process) on the shared Redis."""
    opened: list[RedisDeliveryStore] = []

    async def make(**options: Any) -> RedisDeliveryStore:
        options.setdefault("endpoints", {HOOK: EndpointSettings(concurrency=0)})
        store = RedisDeliveryStore(redis_url, prefix=redis_prefix, **options)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


async def test_workers_never_claim_the_same_delivery(worker):
    stores = [await worker() for _ in range(3)]
    await stores[0].add(events(*range(300)), deliveries(*range(300)))
    claimed: list[str] = []

    async def drain(store: RedisDeliveryStore) -> None:
        while batch := await claim(store, limit=7):
            claimed.extend(d.id for d in batch)
            await store.record([outcome(d, "delivered") for d in batch])

    async with anyio.create_task_group() as tg:
        for store in stores:
            tg.start_soon(drain, store)
    assert sorted(claimed) == sorted(d.id for d in deliveries(*range(300)))
    assert await stores[1].counts() == {"delivered": 300}


async def test_the_in_flight_limit_of_an_endpoint_holds_across_workers(worker):
    settings = {HOOK: EndpointSettings(concurrency=5)}
    one, two = await worker(endpoints=settings), await worker(endpoints=settings)
    await one.add(events(*range(20)), deliveries(*range(20)))
    first = await claim(one, limit=4)
    second = await claim(two, limit=4)
    assert (len(first), len(second)) == (4, 1)
    assert await claim(two, limit=4) == []
    due = await two.next_due_at(HOOK)  # saturated: look again soon, not "nothing pending"
    assert due is not None and due <= now_ms() + 100
    await one.record([outcome(d, "delivered") for d in first[:3]])
    # Two workers ask: each gets a fair share (3 of 5) of what is free.
    assert len(await claim(two, limit=4)) == 2
    assert len(await claim(one, limit=4)) == 1
    assert await one.counts() == {"in_flight": 5, "delivered": 3, "pending": 12}


async def test_a_silent_workers_claims_are_taken_over_and_its_late_outcome_is_kept_aside(worker):
    silent = await worker(reclaim_seconds=0.3)
    other = await worker(reclaim_seconds=0.3)
    await silent.add(events(1, 2), deliveries(1, 2))
    taken = await claim(silent)
    assert len(taken) == 2
    silent._renewer.cancel()  # it stops renewing its claims: as if it hung or died
    with anyio.fail_after(10):
        while not (reclaimed := await claim(other)):
            await anyio.sleep(0.05)
    assert sorted(d.id for d in reclaimed) == sorted(d.id for d in taken)
    assert other.reclaimed == 2
    with capture_logs() as logs:
        await silent.record([outcome(d, "dead", status=500) for d in taken])  # too late
    assert silent.stale_outcomes == 2
    assert any(e["event"].startswith("outcomes of deliveries another worker") for e in logs)
    assert await other.counts() == {"in_flight": 2}  # left to the new owner
    await other.record([outcome(d, "delivered") for d in reclaimed])
    assert await other.counts() == {"delivered": 2}
    row, attempts = await other.get_delivery(taken[0].id)
    assert row.status == "delivered" and len(attempts) == 1  # the same attempt number, kept once
    assert await other.stats() == {"reclaimed": 2, "stale_outcomes": 2}


async def test_a_live_workers_claims_are_renewed_and_never_taken_over(worker):
    busy = await worker(reclaim_seconds=0.5)
    other = await worker(reclaim_seconds=0.5)
    await busy.add(events(1), deliveries(1))
    assert len(await claim(busy)) == 1
    deadline = time.monotonic() + 1.5  # three reclaim periods
    while time.monotonic() < deadline:
        assert await claim(other) == []
        await anyio.sleep(0.05)
    assert other.reclaimed == 0


async def test_recover_at_start_leaves_the_claims_of_live_workers_alone(worker):
    live = await worker()
    await live.add(events(1, 2), deliveries(1, 2))
    assert len(await claim(live, limit=1)) == 1
    newcomer = await worker()
    assert await newcomer.recover() == 0
    assert await newcomer.counts() == {"in_flight": 1, "pending": 1}


async def test_the_circuit_breaker_is_shared_by_the_workers(worker):
    settings = {HOOK: EndpointSettings(breaker_failures=4, probe_ms=1000)}
    one, two = await worker(endpoints=settings), await worker(endpoints=settings)
    await one.set_endpoint(HOOK, HOOK_URL, "active", None, 0, None, None)
    await one.add(events(*range(10)), deliveries(*range(10)))
    for store in (one, two, one, two):  # four failures, two per worker
        [d] = await claim(store, limit=1)
        await store.record([outcome(d, "pending", next_at=now_ms() - 1, status=500)])
    row = await two.endpoint(HOOK)
    assert (row.state, row.consecutive_failures, row.reason) == ("paused", 4, "4 consecutive failures")
    assert await claim(one) == [] and await claim(two) == []  # paused for every worker
    with anyio.fail_after(5):
        while not (probe := await claim(two)):
            await anyio.sleep(0.05)
    assert len(probe) == 1  # one probe at a time, whatever was asked
    assert await claim(one) == []
    await two.record([outcome(probe[0], "delivered")])
    row = await one.endpoint(HOOK)
    assert (row.state, row.consecutive_failures) == ("active", 0)
    assert len(await claim(one)) == 9


async def test_deliveries_written_for_a_disabled_endpoint_are_held(worker):
    """An engines host does not know a worker elsewhere disabled the endpoint (410): the
    store holds what it writes for it."""
    store = await worker()
    await store.set_endpoint(HOOK, HOOK_URL, "disabled", "410 Gone", 1, None, None)
    await store.add(events(1), deliveries(1))
    assert await store.counts() == {"disabled": 1}
    assert await store.enable_endpoint(HOOK) == 1
    assert len(await claim(store)) == 1


async def test_an_idle_dispatcher_hears_of_new_deliveries_at_once(worker):
    idle = await worker(wait_for_new_seconds=5.0)
    engines = await worker()
    waited: list[float] = []

    async def wait_for_work() -> None:
        started = time.monotonic()
        due = await idle.next_due_at(HOOK)
        waited.append(time.monotonic() - started)
        assert due is not None and due <= now_ms()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for_work)
        await anyio.wait_all_tasks_blocked()
        await engines.add(events(1), deliveries(1))
    assert waited[0] < 2.5  # woken by the new entry, not by the end of the 5 s wait
    assert len(await claim(idle)) == 1
