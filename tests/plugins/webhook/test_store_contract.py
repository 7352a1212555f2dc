"""The delivery store's contract, one suite run against both backends: the SQLite file and a
real redis-server. Whatever the dispatcher, the sink and the ``deliveries``/``endpoints``
commands rely on is asserted here, so a backend cannot drift from the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis_server import redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures

from plugins.webhook.redis_store import EndpointSettings, RedisDeliveryStore
from plugins.webhook.sqlite_store import SQLiteDeliveryStore, now_ms
from plugins.webhook.store import (
    AttemptRecord,
    ClaimedDelivery,
    DeliveryFilter,
    NewDelivery,
    StoredEvent,
)

HOOK, HOOK_URL = "hook", "http://127.0.0.1:9/hook"
ORDERED, ORDERED_URL = "ordered", "http://127.0.0.1:9/ordered"
URLS = {HOOK: HOOK_URL, ORDERED: ORDERED_URL}

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(params=["sqlite", "redis"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """``await open_store()``: an open store of the backend under test; a second call opens
    another store on the same data (another process, as far as the store can tell)."""
    opened: list[Any] = []

    async def factory(**options: Any) -> Any:
        if request.param == "sqlite":
            store: Any = SQLiteDeliveryStore(tmp_path / "deliveries.sqlite3")
        else:
            url = request.getfixturevalue("redis_url")
            prefix = request.getfixturevalue("redis_prefix")
            store = RedisDeliveryStore(url, prefix=prefix, **options,
                                       endpoints={ORDERED: EndpointSettings(ordered=True)})
        await store.open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: Factory) -> Any:
    return await open_store()


def events(*numbers: int, session: str = "default", name: str = "message") -> list[StoredEvent]:
    return [StoredEvent(f"evt_{n:04d}", name, session, 1_700_000_000_000 + n, b'{"n":%d}' % n)
            for n in numbers]


def deliveries(*numbers: int, endpoint: str = HOOK, chat: str = "default/1@c.us",
               due: int | None = None, status: str = "pending") -> list[NewDelivery]:
    at = now_ms() - 5 if due is None else due
    return [NewDelivery(id=f"dlv_{endpoint}_{n:04d}", event_id=f"evt_{n:04d}", endpoint=endpoint,
                        url=URLS[endpoint], chat=chat, next_attempt_at=at, status=status)  # type: ignore[arg-type]
            for n in numbers]


def outcome(claimed: ClaimedDelivery, result: str, *, next_at: int | None = None,
            status: int | None = 200, error: str | None = None) -> AttemptRecord:
    return AttemptRecord(delivery_id=claimed.id, attempt=claimed.attempts + 1, started_at=now_ms(),
                         duration_ms=1.5, status_code=status, error=error, response_body="answer",
                         outcome=result, next_attempt_at=next_at)  # type: ignore[arg-type]


async def claim(store: Any, endpoint: str = HOOK, limit: int = 100) -> list[ClaimedDelivery]:
    return await store.claim_due(endpoint, now_ms(), limit, endpoint == ORDERED)


# -- writing ---------------------------------------------------------------------------------

async def test_add_is_idempotent_per_delivery_and_per_event_and_endpoint(store):
    await store.add(events(1, 2), deliveries(1, 2))
    await store.add(events(1, 2), deliveries(1, 2))  # the same batch again (a retried write)
    again = NewDelivery(id="dlv_other", event_id="evt_0001", endpoint=HOOK, url=HOOK_URL,
                        chat="c", next_attempt_at=now_ms())
    await store.add([], [again])  # another id for the same event and endpoint
    assert await store.counts() == {"pending": 2}
    rows = await store.list_deliveries(DeliveryFilter())
    assert [r.id for r in rows] == ["dlv_hook_0001", "dlv_hook_0002"]
    assert (rows[0].event_name, rows[0].session, rows[0].endpoint, rows[0].url, rows[0].attempts) == \
        ("message", "default", HOOK, HOOK_URL, 0)


async def test_a_delivery_written_disabled_is_held(store):
    await store.add(events(1), deliveries(1, status="disabled"))
    assert await store.counts() == {"disabled": 1}
    assert await claim(store) == []
    assert await store.unfinished() == 0


# -- claiming and outcomes -------------------------------------------------------------------

async def test_claim_due_takes_the_oldest_first_once_and_marks_them_in_flight(store):
    await store.add(events(1, 2, 3), deliveries(1, 2, 3))
    first = await claim(store, limit=2)
    assert [d.id for d in first] == ["dlv_hook_0001", "dlv_hook_0002"]
    assert first[0].body == b'{"n":1}' and first[0].event_name == "message"
    assert (first[0].session, first[0].event_timestamp, first[0].url) == ("default", 1_700_000_000_001, HOOK_URL)
    assert (first[0].attempts, first[0].tries) == (0, 0)
    assert [d.id for d in await claim(store)] == ["dlv_hook_0003"]
    assert await claim(store) == []
    assert await store.counts() == {"in_flight": 3}
    assert await store.unfinished() == 3


async def test_a_delivery_not_due_yet_waits_and_next_due_at_says_when(store):
    later = now_ms() + 60_000
    await store.add(events(1), deliveries(1, due=later))
    assert await claim(store) == []
    assert await store.next_due_at(HOOK) == later
    assert await store.next_due_at("nobody") is None


async def test_next_due_at_of_due_deliveries_is_not_in_the_future(store):
    await store.add(events(1), deliveries(1))
    due = await store.next_due_at(HOOK)
    assert due is not None and due <= now_ms()


async def test_outcomes_delivered_retry_and_dead(store):
    await store.add(events(1, 2, 3), deliveries(1, 2, 3))
    one, two, three = await claim(store)
    retry_at = now_ms() + 60_000
    await store.record([outcome(one, "delivered"),
                        outcome(two, "pending", next_at=retry_at, status=503),
                        outcome(three, "dead", status=None, error="ConnectionRefused")])
    assert await store.counts() == {"delivered": 1, "pending": 1, "dead": 1}
    assert await store.next_due_at(HOOK) == retry_at
    assert await claim(store) == []  # the retry is not due yet
    row, attempts = await store.get_delivery(two.id)
    assert (row.status, row.attempts, row.last_status, row.next_attempt_at) == ("pending", 1, 503, retry_at)
    assert [(a.attempt, a.status, a.response_body) for a in attempts] == [(1, 503, "answer")]
    row, attempts = await store.get_delivery(three.id)
    assert (row.status, row.last_status, row.last_error, row.next_attempt_at) == \
        ("dead", None, "ConnectionRefused", None)
    assert await store.unfinished() == 1


async def test_a_due_retry_is_claimed_again_with_its_attempts_counted(store):
    await store.add(events(1), deliveries(1))
    [first] = await claim(store)
    await store.record([outcome(first, "pending", next_at=now_ms() - 1, status=500)])
    [second] = await claim(store)
    assert second.id == first.id and (second.attempts, second.tries) == (1, 1)
    await store.record([outcome(second, "delivered")])
    row, attempts = await store.get_delivery(first.id)
    assert row.status == "delivered" and row.attempts == 2
    assert [a.attempt for a in attempts] == [1, 2]


async def test_release_gives_claims_back_without_an_attempt(store):
    await store.add(events(1, 2), deliveries(1, 2))
    claimed = await claim(store)
    await store.release([d.id for d in claimed])
    assert await store.counts() == {"pending": 2}
    again = await claim(store)
    assert sorted(d.id for d in again) == ["dlv_hook_0001", "dlv_hook_0002"]
    assert all(d.attempts == 0 for d in again)


async def test_recover_makes_the_claims_of_a_stopped_process_pending(open_store):
    first = await open_store()
    await first.add(events(1, 2, 3), deliveries(1, 2, 3))
    assert len(await claim(first, limit=2)) == 2
    await first.close()  # stopped while holding two claims
    second = await open_store()
    assert await second.recover() == 2
    assert await second.counts() == {"pending": 3}
    assert len(await claim(second)) == 3


async def test_per_chat_order_only_the_oldest_unfinished_delivery_of_a_chat_is_claimed(store):
    a, b = "default/a@c.us", "default/b@c.us"
    await store.add(events(1, 2, 3, 4), [*deliveries(1, 2, endpoint=ORDERED, chat=a),
                                         *deliveries(3, endpoint=ORDERED, chat=b),
                                         *deliveries(4, endpoint=ORDERED, chat=a)])
    first = await claim(store, ORDERED)
    assert [d.id for d in first] == ["dlv_ordered_0001", "dlv_ordered_0003"]
    assert await claim(store, ORDERED) == []
    by_id = {d.id: d for d in first}
    # A retry keeps its place: the chat waits for it.
    await store.record([outcome(by_id["dlv_ordered_0001"], "pending", next_at=now_ms() - 1, status=500)])
    [retried] = await claim(store, ORDERED)
    assert retried.id == "dlv_ordered_0001"
    await store.record([outcome(retried, "delivered")])
    assert [d.id for d in await claim(store, ORDERED)] == ["dlv_ordered_0002"]


async def test_a_dead_delivery_lets_its_chat_go_on(store):
    await store.add(events(1, 2), deliveries(1, 2, endpoint=ORDERED))
    [first] = await claim(store, ORDERED)
    await store.record([outcome(first, "dead", status=400)])
    assert [d.id for d in await claim(store, ORDERED)] == ["dlv_ordered_0002"]


# -- endpoints -------------------------------------------------------------------------------

async def test_endpoint_rows_round_trip_with_counts(store):
    await store.set_endpoint(HOOK, HOOK_URL, "active", None, 0, None, None)
    await store.add(events(1, 2, 3), deliveries(1, 2, 3))
    one, two, _ = await claim(store)
    await store.record([outcome(one, "dead", status=400), outcome(two, "delivered")])
    await store.set_endpoint(HOOK, HOOK_URL, "paused", "3 consecutive failures", 3, None, 1234)
    await store.set_endpoint(HOOK, HOOK_URL, "paused", "3 consecutive failures", 3, 999, None)
    [row] = await store.endpoints()
    assert (row.endpoint, row.url, row.state, row.reason) == (HOOK, HOOK_URL, "paused", "3 consecutive failures")
    assert (row.consecutive_failures, row.last_success_at, row.last_failure_at) == (3, 999, 1234)
    assert (row.pending, row.dead) == (1, 1)
    assert (await store.endpoint(HOOK)).state == "paused"
    assert await store.endpoint("nobody") is None


async def test_disable_holds_pending_deliveries_and_enable_resumes_them(store):
    await store.set_endpoint(HOOK, HOOK_URL, "active", None, 0, None, None)
    await store.add(events(1, 2, 3), deliveries(1, 2, 3))
    [one] = await claim(store, limit=1)
    await store.record([outcome(one, "pending", next_at=now_ms() + 60_000, status=500)])
    await store.set_endpoint(HOOK, HOOK_URL, "disabled", "410 Gone", 1, None, now_ms())
    assert await store.counts() == {"disabled": 3}
    assert await store.unfinished() == 0
    assert await store.next_due_at(HOOK) is None
    await store.add(events(4), deliveries(4, status="disabled"))  # as the sink writes them now
    assert await store.counts() == {"disabled": 4}
    assert await store.enable_endpoint("http://127.0.0.1:9/unknown") == -1
    assert await store.enable_endpoint(HOOK_URL) == 4  # by URL (or by name)
    [row] = await store.endpoints()
    assert (row.state, row.reason, row.consecutive_failures) == ("active", None, 0)
    resumed = await claim(store)
    assert sorted(d.id for d in resumed) == [f"dlv_hook_000{n}" for n in (1, 2, 3, 4)]
    assert {d.tries for d in resumed} == {0}  # a fresh budget


async def test_unfinished_of_some_endpoints(store):
    await store.add(events(1, 2), [*deliveries(1, 2), *deliveries(1, endpoint=ORDERED)])
    assert await store.unfinished() == 3
    assert await store.unfinished([ORDERED]) == 1
    assert await store.unfinished(["nobody"]) == 0


# -- inspection and re-sending ---------------------------------------------------------------

async def test_list_deliveries_filters(store):
    await store.add(events(1, 2) + events(3, session="sales", name="message.ack"),
                    [*deliveries(1, 2, 3), *deliveries(1, endpoint=ORDERED)])
    [one, *_] = await claim(store, limit=1)
    await store.record([outcome(one, "dead", status=400)])

    async def ids(**criteria: Any) -> list[str]:
        return [r.id for r in await store.list_deliveries(DeliveryFilter(**criteria))]

    assert await ids() == ["dlv_hook_0001", "dlv_hook_0002", "dlv_hook_0003", "dlv_ordered_0001"]
    assert await ids(status="dead") == ["dlv_hook_0001"]
    assert await ids(status="pending", endpoint=HOOK) == ["dlv_hook_0002", "dlv_hook_0003"]
    assert await ids(endpoint=ORDERED_URL) == ["dlv_ordered_0001"]
    assert await ids(session="sales") == ["dlv_hook_0003"]
    assert await ids(event="message.ack") == ["dlv_hook_0003"]
    assert await ids(limit=2) == ["dlv_hook_0001", "dlv_hook_0002"]
    assert await ids(since=now_ms() + 60_000) == []
    assert len(await ids(since=now_ms() - 60_000)) == 4
    assert await store.get_delivery("dlv_nothing") is None


async def test_retry_by_id_resends_dead_and_delivered_ones_with_a_fresh_budget(store):
    await store.add(events(1, 2, 3), deliveries(1, 2, 3))
    one, two, _three = await claim(store)
    await store.record([outcome(one, "dead", status=400), outcome(two, "delivered")])
    assert await store.retry([one.id, two.id, "dlv_hook_0003", "dlv_nothing"], None) == 2
    assert await store.counts() == {"pending": 2, "in_flight": 1}
    again = {d.id: d for d in await claim(store)}
    assert set(again) == {one.id, two.id}
    assert (again[one.id].attempts, again[one.id].tries) == (1, 0)


async def test_retry_by_filter_resends_the_dead_ones(store):
    await store.add(events(1, 2, 3), deliveries(1, 2, 3))
    one, two, three = await claim(store)
    await store.record([outcome(one, "dead", status=400), outcome(two, "dead", status=400),
                        outcome(three, "delivered")])
    assert await store.retry(None, DeliveryFilter(status="dead", since=now_ms() - 60_000)) == 2
    assert await store.counts() == {"pending": 2, "delivered": 1}
    assert await store.retry(None, None) == 0  # nothing dead any more


async def test_prune_deletes_old_delivered_deliveries_only(store):
    await store.add(events(1, 2, 3), deliveries(1, 2, 3))
    one, two, _ = await claim(store)
    await store.record([outcome(one, "delivered"), outcome(two, "dead", status=400)])
    assert await store.prune(now_ms() - 60_000) == 0  # delivered just now: kept
    assert await store.prune(now_ms() + 1) == 1
    assert await store.get_delivery(one.id) is None
    assert await store.counts() == {"dead": 1, "in_flight": 1}
    assert (await store.get_delivery(two.id))[0].status == "dead"
