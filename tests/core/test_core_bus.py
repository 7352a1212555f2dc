"""The in-memory bus: fan-out, filters, bounded buffers, block/drop, closing."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from structlog.testing import capture_logs

from core.bus import Bus, Subscription, matches
from core.events import Envelope, environment, make_event
from core.payloads import EngineEventPayload, MessagePayload


def event(name: str = "message", body: str = "hi") -> Envelope:
    payload = EngineEventPayload(native_event="raw") if name == "engine.event" else MessagePayload(body=body)
    return make_event(None, name, payload, session="s1", engine="TEST", env=environment("TEST", None))


@pytest.fixture
def opened() -> Iterator[list[Subscription]]:
    """Subscriptions a test opened; closed afterwards (an unclosed stream is a ResourceWarning)."""
    subs: list[Subscription] = []
    yield subs
    for sub in subs:
        sub.close()


def drain(sub) -> list[Envelope]:
    items = []
    while True:
        try:
            items.append(sub.receive_stream.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream):
            return items


async def test_fans_out_every_event_to_every_matching_subscriber(opened):
    bus = Bus()
    first = bus.subscribe("first", ["*"])
    opened.append(first)
    second = bus.subscribe("second", ["*"])
    opened.append(second)
    only_acks = bus.subscribe("acks", ["message.ack"])
    opened.append(only_acks)
    sent = [event("message", "a"), event("message.ack"), event("message", "b")]
    delivered = [await bus.publish(e) for e in sent]
    assert delivered == [2, 3, 2]
    assert drain(first) == sent
    assert drain(second) == sent
    assert drain(only_acks) == [sent[1]]
    assert bus.published == 3


async def test_star_excludes_engine_event_which_is_opt_in(opened):
    bus = Bus()
    star = bus.subscribe("star", ["*"])
    opened.append(star)
    raw = bus.subscribe("raw", ["engine.event"])
    opened.append(raw)
    both = bus.subscribe("both", ["*", "engine.event"])
    opened.append(both)
    debug = event("engine.event")
    assert await bus.publish(debug) == 2
    assert drain(star) == []
    assert drain(raw) == [debug]
    assert drain(both) == [debug]
    assert matches({"*"}, "message.any") and not matches({"*"}, "engine.event")
    assert not matches({"message"}, "message.any")


async def test_buffers_are_bounded_and_drop_counts_and_logs_each_power_of_two(opened):
    bus = Bus(default_buffer=2)
    observer = bus.subscribe("observer", ["*"], overflow="drop")
    opened.append(observer)
    with capture_logs() as logs:
        with anyio.fail_after(1):  # a drop subscriber never makes the publisher wait
            results = [await bus.publish(event(body=str(i))) for i in range(7)]
    assert results == [1, 1, 0, 0, 0, 0, 0]
    assert observer.dropped == 5
    assert [e.payload.body for e in drain(observer)] == ["0", "1"]
    drops = [r for r in logs if r["event"] == "bus subscriber full, event dropped"]
    assert [r["dropped"] for r in drops] == [1, 2, 4]  # counted every time, logged 1, 2, 4, 8 …
    assert {r["subscriber"] for r in drops} == {"observer"}
    assert {r["event_name"] for r in drops} == {"message"}
    assert all(r["log_level"] == "warning" for r in drops)


async def test_per_subscription_buffer_overrides_the_default(opened):
    bus = Bus(default_buffer=100)
    small = bus.subscribe("small", ["*"], overflow="drop", buffer=1)
    opened.append(small)
    for i in range(3):
        await bus.publish(event(body=str(i)))
    assert small.dropped == 2
    assert len(drain(small)) == 1


async def test_block_applies_backpressure_the_publisher_waits_for_room(opened):
    bus = Bus()
    slow = bus.subscribe("slow", ["*"], overflow="block", buffer=1)
    opened.append(slow)
    fast = bus.subscribe("fast", ["*"], overflow="drop", buffer=10)
    opened.append(fast)
    published: list[int] = []

    async def publisher() -> None:
        for i in range(3):
            await bus.publish(event(body=str(i)))
            published.append(i)

    async with anyio.create_task_group() as tg:
        tg.start_soon(publisher)
        await wait_all_tasks_blocked()
        # the first event filled the buffer, the second waits for room
        assert published == [0]
        assert (await slow.receive()).payload.body == "0"
        await wait_all_tasks_blocked()
        assert published == [0, 1]
        assert (await slow.receive()).payload.body == "1"
        assert (await slow.receive()).payload.body == "2"
    assert published == [0, 1, 2]
    assert slow.dropped == 0
    assert [e.payload.body for e in drain(fast)] == ["0", "1", "2"]


async def test_a_closed_subscriber_never_breaks_the_publisher(opened):
    bus = Bus()
    leaving = bus.subscribe("leaving", ["*"])
    opened.append(leaving)
    staying = bus.subscribe("staying", ["*"])
    opened.append(staying)
    leaving.close()
    assert await bus.publish(event()) == 1
    assert [s.name for s in bus.subscribers] == ["staying"]
    # a subscriber that only closed its receive side is noticed and removed on publish
    gone = bus.subscribe("gone", ["*"], overflow="drop")
    opened.append(gone)
    gone.receive_stream.close()
    with capture_logs() as logs:
        assert await bus.publish(event()) == 1
    assert [s.name for s in bus.subscribers] == ["staying"]
    assert {"subscriber": "gone", "event": "bus subscriber gone", "log_level": "info"} in logs
    assert len(drain(staying)) == 2


async def test_a_subscriber_leaving_while_the_publisher_waits_on_it_releases_the_publisher(opened):
    bus = Bus()
    full = bus.subscribe("full", ["*"], overflow="block", buffer=1)
    opened.append(full)
    other = bus.subscribe("other", ["*"], overflow="block", buffer=10)
    opened.append(other)
    await bus.publish(event(body="0"))
    done = anyio.Event()

    async def publish_one() -> None:
        await bus.publish(event(body="1"))
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(publish_one)
        await wait_all_tasks_blocked()
        assert not done.is_set()
        full.receive_stream.close()  # the subscriber goes away without draining
        with anyio.fail_after(1):
            await done.wait()
    assert [s.name for s in bus.subscribers] == ["other"]
    assert [e.payload.body for e in drain(other)] == ["0", "1"]


async def test_close_ends_subscribers_after_what_is_buffered(opened):
    bus = Bus()
    sub = bus.subscribe("sink", ["*"])
    opened.append(sub)
    for i in range(3):
        await bus.publish(event(body=str(i)))
    bus.close()
    received = [e.payload.body async for e in sub]
    assert received == ["0", "1", "2"]
    with pytest.raises(RuntimeError, match="closed"):
        await bus.publish(event())
    late = bus.subscribe("late", ["*"])
    opened.append(late)
    assert [e async for e in late] == []


async def test_iterating_a_subscription_ends_when_the_bus_closes_while_waiting(opened):
    bus = Bus()
    sub = bus.subscribe("sink", ["*"])
    opened.append(sub)
    received: list[str] = []

    async def consume() -> None:
        async for e in sub:
            received.append(e.payload.body)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await bus.publish(event(body="x"))
        await wait_all_tasks_blocked()
        bus.close()
    assert received == ["x"]


def test_overflow_must_be_block_or_drop():
    with pytest.raises(ValueError, match="overflow"):
        Bus().subscribe("x", ["*"], overflow="spill")  # type: ignore[arg-type]
