"""Deliveries a page at a time over the API, on 100,000 stored deliveries, on both stores:
keyset cursors (``X-Next-Cursor``), newest or oldest first, filters by status, session, event,
endpoint and time, and "re-send all matching". Every page costs what the first does: SQLite
answers from an index, never by counting rows off (its query plan is checked)."""

from __future__ import annotations

import time

import pytest
from api_service import build, serving
from redis_server import redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures

from plugins.webhook.redis_store import RedisDeliveryStore
from plugins.webhook.sqlite_store import SQLiteDeliveryStore
from plugins.webhook.store import DeliveryFilter, NewDelivery, StoredEvent

TOTAL = 100_000
DEAD_EVERY = 100  # 1,000 dead deliveries
BATCH = 5_000
ENDPOINTS = ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b")
NAMES = ("message", "message.ack", "session.status")


def seed_rows() -> list[tuple[list[StoredEvent], list[NewDelivery]]]:
    batches = []
    for start in range(0, TOTAL, BATCH):
        events, deliveries = [], []
        for n in range(start, start + BATCH):
            event_id = f"evt_{n:08d}"
            events.append(StoredEvent(event_id, NAMES[n % 3], f"s{n % 2}", n, b"{}"))
            endpoint = ENDPOINTS[n % 2]
            deliveries.append(NewDelivery(id=f"dlv_{n:08d}", event_id=event_id, endpoint=endpoint,
                                          url=endpoint, chat="", next_attempt_at=0,
                                          status="dead" if n % DEAD_EVERY == 0 else "delivered"))
        batches.append((events, deliveries))
    return batches


async def seed(store) -> None:
    await store.open()
    try:
        for events, deliveries in seed_rows():
            await store.add(events, deliveries)
    finally:
        await store.close()


async def walk(api, query: str) -> tuple[list[dict], list[float]]:
    """Every page of ``query``, following ``X-Next-Cursor``; the rows and each page's seconds."""
    rows: list[dict] = []
    seconds: list[float] = []
    cursor = None
    while True:
        started = time.perf_counter()
        path = f"/api/deliveries?{query}" + (f"&cursor={cursor}" if cursor else "")
        async with api.http.get(api.base + path) as response:
            assert response.status == 200, await response.text()
            page = await response.json()
            cursor = response.headers.get("X-Next-Cursor")
        seconds.append(time.perf_counter() - started)
        rows += page
        if cursor is None:
            return rows, seconds
        assert page, "a cursor after an empty page"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_keyset_pages_over_100k_deliveries(tmp_path, backend, request):
    if backend == "sqlite":
        path = tmp_path / "hookwire.sqlite3"
        await seed(SQLiteDeliveryStore(path))
        delivery = {"store_path": str(path)}
    else:
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        await seed(RedisDeliveryStore(url, prefix=prefix))
        delivery = {"backend": "redis", "redis_url": url, "redis_prefix": prefix}
    service = build(tmp_path, delivery=delivery)
    async with serving(service, timeout=120) as api:
        # The latest first: one page, and a cursor.
        async with api.http.get(api.base + "/api/deliveries?order=newest&limit=50") as response:
            latest = await response.json()
            assert response.headers["X-Next-Cursor"]
        assert [r["id"] for r in latest] == [f"dlv_{n:08d}" for n in range(TOTAL - 1, TOTAL - 51, -1)]
        # Every dead one, newest first, 200 a page: each exactly once, in order.
        dead, seconds = await walk(api, "status=dead&order=newest&limit=200")
        assert [r["id"] for r in dead] == [f"dlv_{n:08d}" for n in range(TOTAL - DEAD_EVERY, -1, -DEAD_EVERY)]
        assert len(seconds) == 5 + 1 or len(seconds) == 5  # 1,000 rows: 5 full pages (+ an empty one)
        # Oldest first, with session, event and endpoint filters: what a scan would find.
        found, _ = await walk(api, f"session=s0&event=message&endpoint={ENDPOINTS[0]}&limit=2000")
        expected = [n for n in range(TOTAL) if n % 2 == 0 and n % 3 == 0]
        assert [r["id"] for r in found] == [f"dlv_{n:08d}" for n in expected]
        # A time window (created_at, Unix ms, inclusive).
        middle = found[len(found) // 2]["created_at"]
        window, _ = await walk(api, f"status=dead&since={middle}&until={middle}&limit=500")
        assert window and all(r["created_at"] == middle for r in window)
        # Re-send every dead delivery matching the filters.
        code, queued = await api.post("/api/deliveries/retry", {"status": "dead", "session": "s1",
                                                                "event": "message.ack"})
        matching = [n for n in range(0, TOTAL, DEAD_EVERY) if n % 2 == 1 and n % 3 == 1]
        assert (code, queued) == (200, {"queued": len(matching)})
        # A cursor no listing gave out.
        code, error = await api.get("/api/deliveries?cursor=dlv_x")
        assert (code, error["path"]) == (422, "query.cursor")
    # Later pages cost what the first does (keyset): none is much slower than the first ones.
    print(f"{backend}: dead pages took {[round(s * 1000, 1) for s in seconds]} ms")
    assert max(seconds) < 2.0


def test_sqlite_pages_come_from_an_index_whatever_the_cursor(tmp_path):
    """The listing query of a status page, from any cursor, is an index search (no scan of
    the table, no sort of every match)."""
    path = tmp_path / "plan.sqlite3"
    store = SQLiteDeliveryStore(path)
    conn = store._connect()
    try:
        flt = DeliveryFilter(status="dead", after_seq=50_000, newest_first=True, limit=50)
        query, params = store.listing_query(flt)
        plan = conn.execute(f"EXPLAIN QUERY PLAN {query}", params).fetchall()
    finally:
        conn.close()
    steps = " | ".join(row[-1] for row in plan)
    assert "USING INDEX deliveries_listing (status=? AND seq<?)" in steps, steps
    assert "TEMP B-TREE" not in steps, steps
