"""The in-memory event bus: publish typed events, subscribe by event name.

anyio memory-stream clones share items rather than broadcast, so the bus fans out itself:
one bounded stream per subscriber. A subscriber chooses ``block`` (the publisher waits while
its buffer is full: backpressure for sinks that must not lose events) or ``drop`` (the event is
dropped for that subscriber, counted and logged: for observers). A subscriber whose receive
side is closed is removed; it never breaks the publisher.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from core.events import ENGINE_EVENT, Envelope
from core.logging import get_logger
from core.metrics import BUS_DROPPED

log = get_logger(__name__)

Overflow = Literal["block", "drop"]


def matches(filters: Collection[str], name: str) -> bool:
    """``*`` matches every event except ``engine.event`` (opt-in only)."""
    if name in filters:
        return True
    return "*" in filters and name != ENGINE_EVENT


class Subscription:
    """A subscriber's end: iterate it (``async for event in sub``) or ``receive()``."""

    def __init__(self, bus: Bus, name: str, events: frozenset[str], overflow: Overflow, buffer: int):
        self.bus = bus
        self.name = name
        self.events = events
        self.overflow = overflow
        self.dropped = 0
        send, receive = anyio.create_memory_object_stream[Envelope](buffer)
        self._send: MemoryObjectSendStream[Envelope] = send
        self.receive_stream: MemoryObjectReceiveStream[Envelope] = receive

    def wants(self, name: str) -> bool:
        return matches(self.events, name)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Envelope:
        try:
            return await self.receive_stream.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def receive(self) -> Envelope:
        return await self.receive_stream.receive()

    def close(self) -> None:
        """Leave the bus: publishing to this subscriber stops; pending items are discarded."""
        self.bus._remove(self)
        self.receive_stream.close()
        self._send.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class Bus:
    def __init__(self, default_buffer: int = 1000) -> None:
        self.default_buffer = default_buffer
        self._subscribers: list[Subscription] = []
        self.published = 0
        self.closed = False

    def subscribe(
        self,
        name: str,
        events: Iterable[str],
        *,
        overflow: Overflow = "block",
        buffer: int | None = None,
    ) -> Subscription:
        if overflow not in ("block", "drop"):
            raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")
        sub = Subscription(self, name, frozenset(events), overflow, buffer or self.default_buffer)
        if self.closed:
            sub._send.close()
        else:
            self._subscribers.append(sub)
        return sub

    @property
    def subscribers(self) -> list[Subscription]:
        return list(self._subscribers)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    async def publish(self, event: Envelope) -> int:
        """Hand ``event`` to every matching subscriber; returns how many took it."""
        if self.closed:
            raise RuntimeError("the bus is closed")
        self.published += 1
        name = event.name
        delivered = 0
        for sub in list(self._subscribers):
            if not sub.wants(name):
                continue
            try:
                try:
                    sub._send.send_nowait(event)  # no checkpoint while there is room
                except anyio.WouldBlock:
                    if sub.overflow != "block":
                        raise
                    await sub._send.send(event)  # backpressure: wait for room
                delivered += 1
            except anyio.WouldBlock:
                sub.dropped += 1
                BUS_DROPPED.labels(sub.name).inc()
                if sub.dropped & (sub.dropped - 1) == 0:  # 1, 2, 4, 8 …: counted, not flooded
                    log.warning("bus subscriber full, event dropped", subscriber=sub.name,
                                event_name=name, dropped=sub.dropped)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._remove(sub)
                log.info("bus subscriber gone", subscriber=sub.name)
        return delivered

    def close(self) -> None:
        """Stop intake: subscribers receive what is buffered, then end of stream."""
        self.closed = True
        for sub in self._subscribers:
            sub._send.close()
        self._subscribers.clear()
