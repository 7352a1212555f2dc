"""The delivery store on Redis Streams: engines on some hosts, delivery workers on others.

Each endpoint has a stream of due deliveries read by one consumer group; every worker process
is a consumer. Claiming reads new entries (``XREADGROUP``) and takes over entries of workers
that stopped answering (``XAUTOCLAIM`` after ``redis_reclaim_seconds`` idle; live workers
renew their claims every third of that). An entry is acknowledged and deleted once its
attempt's outcome is stored: a final one, or a retry, which waits in a sorted set until due.
The scripts in :mod:`plugins.webhook.redis_lua` keep every change atomic across workers.

Shared by every worker, because they live in Redis: dead letters, endpoint state, the circuit
breaker (consecutive failures, pause, one probe at a time), the in-flight limit of an endpoint
(``concurrency`` counts claims across all workers) and per-chat order (for ``ordering =
"chat"`` only the oldest unfinished delivery of a chat is ever queued, so it holds with any
number of workers).

Delivery is at least once: a worker killed between sending a request and storing its outcome
leaves a claim that another worker takes over and sends again. Such take-overs are counted
(``reclaimed`` in :meth:`RedisDeliveryStore.stats`), and outcomes that arrive after a take-over
(``stale_outcomes``) keep their attempt but leave the state to the new owner.

Background work (renewing claims, writing a buffer after an outage) runs in asyncio tasks the
store owns, because the store is used alike by the sink and by one-shot CLI commands; ``close``
ends them. redis-py's asyncio client needs the asyncio backend of anyio, which hookwire uses.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from core.config import ConfigError
from core.logging import get_logger
from plugins.webhook.redis_admin import RedisAdmin
from plugins.webhook.redis_buffer import Batch, WriteBuffer
from plugins.webhook.redis_link import RedisLink, RedisUnavailable
from plugins.webhook.redis_lua import LIBRARY, SCRIPTS
from plugins.webhook.redis_lua_admin import ADMIN_SCRIPTS
from plugins.webhook.sqlite_store import now_ms
from plugins.webhook.store import (
    AttemptRecord,
    AttemptRow,
    ClaimedDelivery,
    NewDelivery,
    StoredEvent,
)

log = get_logger("plugins.webhook.redis")

#: While an endpoint's in-flight limit is used up by other workers, look again this soon.
SATURATED_POLL_MS = 20


class EndpointSettings(msgspec.Struct, frozen=True):
    """What the store must know of a webhook to share its limits across workers."""

    #: ``ordering = "chat"``: per-chat FIFO (decided when a delivery is written).
    ordered: bool = False
    #: Claims in flight at once across every worker (0: no limit beyond the claim size).
    concurrency: int = 0
    #: Consecutive failures that pause the endpoint (0: never).
    breaker_failures: int = 0
    probe_ms: int = 30_000


def default_consumer(worker_id: str | None = None) -> str:
    """A consumer name unique to this process: ``<worker id or host>:<pid>:<random>``."""
    return f"{worker_id or socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class RedisDeliveryStore(RedisAdmin):
    def __init__(self, url: str, *, prefix: str = "hookwire",
                 endpoints: Mapping[str, EndpointSettings] | None = None,
                 reclaim_seconds: float = 30.0, outage: Literal["buffer", "block"] = "buffer",
                 buffer_events: int = 10_000, spool_dir: Path | None = None,
                 consumer: str | None = None, wait_for_new_seconds: float = 0.0,
                 wait: bool = True) -> None:
        """``wait_for_new_seconds``: :meth:`next_due_at` waits this long for new entries
        (a dispatcher's idle wait, so deliveries written by another host start at once).
        ``wait``: wait for Redis through an outage (service) or fail at once (CLI)."""
        self.url = url
        self.prefix = prefix
        self.settings: dict[str, EndpointSettings] = dict(endpoints or {})
        self.reclaim_ms = int(reclaim_seconds * 1000)
        self.outage = outage
        self.buffer_events = buffer_events if outage == "buffer" else 0
        self.spool_dir = spool_dir
        self.consumer = consumer or default_consumer()
        self.wait_for_new_ms = int(wait_for_new_seconds * 1000)
        self.wait = wait
        #: delivery id -> (endpoint, stream entry) of the claims this store holds.
        self._claims: dict[str, tuple[str, str]] = {}
        self._next_reclaim: dict[str, float] = {}
        self._link: RedisLink | None = None
        self._scripts: dict[str, Any] = {}
        self._buffer: WriteBuffer | None = None
        self._renewer: asyncio.Task[None] | None = None
        #: Deliveries this store took over from silent workers / outcomes that came too late.
        self.reclaimed = 0
        self.stale_outcomes = 0

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def link(self) -> RedisLink:
        if self._link is None:
            raise RuntimeError("store is not open")
        return self._link

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def describe_endpoint(self, endpoint: str, settings: EndpointSettings) -> None:
        """Settings of an endpoint not in the config the store was made with."""
        self.settings[endpoint] = settings

    def _settings(self, endpoint: str) -> EndpointSettings:
        return self.settings.get(endpoint) or EndpointSettings()

    async def call(self, fn: Any) -> Any:
        try:
            return await self.link.call(fn, wait=self.wait)
        except RedisUnavailable as exc:
            raise ConfigError(f"[delivery] redis_url: cannot reach Redis at {self.link.shown_url}: "
                              f"{exc}") from None

    async def run(self, script: str, *args: Any) -> Any:
        runner = self._scripts[script]
        argv = [self.prefix, *args]
        return await self.call(lambda: runner(args=argv))

    async def open(self) -> None:
        if self._link is not None:
            return
        self._link = RedisLink(self.url)
        self._scripts = {name: self._link.script(LIBRARY + source) for name, source in {**SCRIPTS, **ADMIN_SCRIPTS}.items()}
        self._buffer = WriteBuffer(self.buffer_events, self.spool_dir, self._write)
        if self.outage == "buffer":
            self._link.outage_note = f"buffering new deliveries in memory (up to {self.buffer_events} events)"
        if not self.wait:
            try:
                await self._link.check()
            except BaseException:
                await self.close()
                raise
        self._buffer.take_spooled()

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        if self._renewer is not None:
            self._renewer.cancel()
            try:
                await self._renewer
            except asyncio.CancelledError:
                pass
            self._renewer = None
        if self._buffer is not None:
            await self._buffer.close()
        if link.down_since is None:
            try:  # gone: claims still held (a cancelled stop) may be recovered at once
                await link.client.delete(self.key("alive", self.consumer))
            except Exception:
                pass
        await link.close()

    # -- ingest --------------------------------------------------------------------------------

    def _add_args(self, batch: Batch) -> list[Any]:
        events, deliveries = batch
        args: list[Any] = [now_ms(), len(events)]
        for e in events:
            args += [e.id, e.name, e.session, e.timestamp, e.body]
        args.append(len(deliveries))
        for d in deliveries:
            ordered = "1" if self._settings(d.endpoint).ordered else "0"
            args += [d.id, d.event_id, d.endpoint, d.url, d.chat, d.next_attempt_at, d.status, ordered]
        return args

    async def _write(self, batch: Batch) -> None:
        """Write a batch, waiting through an outage (the buffer's drainer)."""
        runner = self._scripts["add"]
        await self.link.call(lambda: runner(args=[self.prefix, *self._add_args(batch)]))

    async def add(self, events: list[StoredEvent], deliveries: list[NewDelivery]) -> None:
        """Written to Redis; while Redis is unreachable, buffered within the bound (outage
        ``buffer``) or retried until it answers (``block``). Idempotent per delivery id."""
        assert self._buffer is not None, "store is not open"
        batch = (events, deliveries)
        if self.outage == "buffer" and self.wait:
            if self._buffer.active:  # keep the order: behind what already waits
                await self._buffer.put(batch)
                return
            try:
                await self.link.call(lambda: self._scripts["add"](args=[self.prefix, *self._add_args(batch)]),
                                     wait=False)
            except RedisUnavailable:
                await self._buffer.put(batch)
            return
        await self.run("add", *self._add_args(batch))

    async def drain(self) -> None:
        """Return once nothing waits in the outage buffer (everything accepted is in Redis)."""
        if self._buffer is not None:
            await self._buffer.wait_empty()

    @property
    def buffered_batches(self) -> int:
        return self._buffer.buffered_batches if self._buffer is not None else 0

    # -- the dispatch path ---------------------------------------------------------------------

    async def recover(self) -> int:
        """Claims of workers without a sign of life (stopped, killed) become pending at once;
        those of live workers are left alone. Returns how many."""
        total = 0
        for endpoint in sorted(await self._members("queues")):
            total += int(await self.run("recover", endpoint, self.consumer, now_ms()))
        return total

    async def claim_due(self, endpoint: str, now: int, limit: int, per_chat: bool) -> list[ClaimedDelivery]:
        """``per_chat`` is decided when deliveries are written (``EndpointSettings.ordered``)."""
        settings = self._settings(endpoint)
        reclaim = 0
        if time.monotonic() >= self._next_reclaim.get(endpoint, 0.0):
            reclaim = self.reclaim_ms
            self._next_reclaim[endpoint] = time.monotonic() + self.reclaim_ms / 4000
        self._start_renewer()
        rows = await self.run("claim", endpoint, self.consumer, now, limit, settings.concurrency,
                              reclaim, settings.probe_ms, self.reclaim_ms)
        claimed: list[ClaimedDelivery] = []
        reclaimed = 0
        for row in rows:
            delivery_id = row[0].decode()
            self._claims[delivery_id] = (endpoint, row[9].decode())
            reclaimed += int(row[10])
            claimed.append(ClaimedDelivery(
                id=delivery_id, event_id=row[1].decode(), event_name=row[2].decode(),
                session=row[3].decode(), event_timestamp=int(row[4]), endpoint=endpoint,
                url=row[5].decode(), attempts=int(row[6]), tries=int(row[7]), body=bytes(row[8])))
        if reclaimed:
            self.reclaimed += reclaimed
            log.warning("deliveries taken over from a worker that stopped answering; they are sent "
                        "again (at least once)", endpoint=endpoint, deliveries=reclaimed)
        return claimed

    async def release(self, delivery_ids: list[str]) -> None:
        args: list[str] = []
        for delivery_id in delivery_ids:
            claim = self._claims.get(delivery_id)
            if claim is not None:
                args += [delivery_id, claim[1]]
        if not args:
            return
        await self.run("release", self.consumer, now_ms(), *args)
        for delivery_id in delivery_ids:
            self._claims.pop(delivery_id, None)

    async def record(self, attempts: list[AttemptRecord]) -> None:
        if not attempts:
            return
        items = []
        for a in attempts:
            claim = self._claims.get(a.delivery_id)
            row = msgspec.json.encode(AttemptRow(
                attempt=a.attempt, started_at=a.started_at, duration_ms=a.duration_ms,
                status=a.status_code, error=a.error, response_body=a.response_body)).decode()
            items.append(msgspec.json.encode([
                a.delivery_id, claim[1] if claim else "", a.outcome, a.next_attempt_at, a.attempt,
                a.status_code, a.error, row]))
        breakers = msgspec.json.encode({ep: [s.breaker_failures, s.probe_ms]
                                        for ep, s in self.settings.items()} or {"": [0, 0]})
        stale = int(await self.run("record", self.consumer, now_ms(), breakers, *items))
        for a in attempts:
            self._claims.pop(a.delivery_id, None)
        if stale:
            self.stale_outcomes += stale
            log.warning("outcomes of deliveries another worker had taken over: attempts kept, "
                        "state left to that worker", deliveries=stale)

    async def next_due_at(self, endpoint: str) -> int | None:
        now = now_ms()
        due, saturated, last = await self.run("next_due", endpoint, now,
                                              self._settings(endpoint).concurrency)
        due = int(due)
        if saturated:
            return now + SATURATED_POLL_MS
        if 0 <= due <= now or self.wait_for_new_ms <= 0:
            return None if due < 0 else due
        block = self.wait_for_new_ms if due < 0 else min(self.wait_for_new_ms, due - now)
        stream = self.key("q", endpoint)
        arrived = await self.call(lambda: self.link.client.xread({stream: last}, count=1, block=block))
        # Something new, or the wait is over: either way the dispatcher looks again now.
        return now_ms() if arrived or due < 0 else due

    def _start_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        """Keep this worker's claims from being taken over while it works on them."""
        while True:
            await asyncio.sleep(self.reclaim_ms / 3000)
            claims = [(ep, delivery_id, entry) for delivery_id, (ep, entry) in list(self._claims.items())]
            argv = [self.prefix, self.consumer, self.reclaim_ms, *(part for claim in claims for part in claim)]
            touch = functools.partial(self._scripts["touch"], args=argv)
            try:
                await self.link.call(touch)
            except Exception as exc:
                log.error("renewing claims failed", error=f"{type(exc).__name__}: {exc}")
