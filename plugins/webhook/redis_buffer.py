"""Where an engines host keeps new deliveries while Redis is unreachable.

``redis_outage = "buffer"``: batches the store could not write wait here, in memory and in
order, up to ``redis_buffer_events`` events; past that, :meth:`WriteBuffer.put` blocks, which
holds the bus and so the engines back (nothing is dropped). While anything waits here, new
batches queue behind it, so the order of a chat's deliveries is kept. A drainer writes them
as soon as Redis answers.

A process stopped while Redis is still down writes what waits to a spool file in
``<data_dir>/redis-spool/``; the next store opened on that directory (the same host, any role)
takes the file (an exclusive ``flock``, released by the kernel if that process dies) and
writes it to Redis before the file is removed.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
import msgspec

from core.logging import get_logger
from core.ulid import new_ulid
from plugins.webhook.store import NewDelivery, StoredEvent

log = get_logger("plugins.webhook.redis")

Batch = tuple[list[StoredEvent], list[NewDelivery]]
_spool_encoder = msgspec.msgpack.Encoder()
_spool_decoder = msgspec.msgpack.Decoder(list[tuple[list[StoredEvent], list[NewDelivery]]])


@dataclass
class _Waiting:
    batch: Batch
    #: The spool file it came from (locked while it drains; removed once written).
    spool: IO[bytes] | None = None


class WriteBuffer:
    """Made inside the running event loop (it owns an ``anyio.Event`` and a drainer task)."""

    def __init__(self, bound_events: int, spool_dir: Path | None,
                 write: Callable[[Batch], Awaitable[None]]) -> None:
        self.bound_events = bound_events
        self.spool_dir = spool_dir
        self._write = write
        self._waiting: deque[_Waiting] = deque()
        self.events = 0
        self._changed = anyio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self._full_logged = False
        #: Batches and events that went through the buffer (for tests and logs).
        self.buffered_batches = 0

    @property
    def active(self) -> bool:
        return bool(self._waiting)

    def _signal(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def put(self, batch: Batch) -> None:
        """Queue ``batch``; wait while the buffer holds ``bound_events`` or more."""
        while self._waiting and self.events >= self.bound_events:
            if not self._full_logged:
                self._full_logged = True
                log.warning("redis buffer full, intake waits for redis", buffered_events=self.events,
                            bound=self.bound_events)
            await self._changed.wait()
        self._append(_Waiting(batch))

    def _append(self, waiting: _Waiting) -> None:
        self._waiting.append(waiting)
        self.events += max(1, len(waiting.batch[0]))
        self.buffered_batches += 1
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._waiting:
            head = self._waiting[0]
            await self._write(head.batch)  # waits (and reconnects) until Redis takes it
            self._waiting.popleft()
            self.events -= max(1, len(head.batch[0]))
            if head.spool is not None:
                Path(head.spool.name).unlink(missing_ok=True)
                head.spool.close()
            self._signal()
        self._full_logged = False
        log.info("redis buffer written", batches=self.buffered_batches)
        self._signal()

    async def wait_empty(self) -> None:
        while self._waiting:
            await self._changed.wait()

    async def close(self) -> None:
        """Stop draining; spill what still waits to a spool file (and release taken ones)."""
        if self._drainer is not None and not self._drainer.done():
            self._drainer.cancel()
            try:
                await self._drainer
            except asyncio.CancelledError:
                pass
        if not self._waiting:
            return
        fresh = [w.batch for w in self._waiting if w.spool is None]
        for waiting in self._waiting:
            if waiting.spool is not None:
                waiting.spool.close()  # stays on disk, unlocked, for the next store
        lost = sum(len(b[0]) for b in fresh)
        self._waiting.clear()
        if not fresh:
            return
        if self.spool_dir is None:
            log.error("redis unreachable at shutdown: buffered events not written", events=lost)
            return
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / f"{new_ulid()}.msgpack"
        partial = path.with_suffix(".partial")
        partial.write_bytes(_spool_encoder.encode(fresh))
        os.replace(partial, path)
        log.warning("redis unreachable at shutdown: buffered deliveries spooled to disk, written to "
                    "redis by the next start on this host", events=lost, path=str(path))

    def take_spooled(self) -> int:
        """Queue the batches of spool files no other process holds; returns how many events."""
        if self.spool_dir is None or not self.spool_dir.is_dir():
            return 0
        taken = 0
        for path in sorted(self.spool_dir.glob("*.msgpack")):
            handle = path.open("rb")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()  # another process drains it
                continue
            if not path.exists():  # drained and removed between the glob and the lock
                handle.close()
                continue
            try:
                batches = _spool_decoder.decode(handle.read())
            except msgspec.DecodeError as exc:
                log.error("unreadable redis spool file left as it is", path=str(path), error=str(exc))
                handle.close()
                continue
            for index, batch in enumerate(batches):
                last = index == len(batches) - 1
                self._append(_Waiting(batch, handle if last else None))
                taken += len(batch[0])
            if not batches:
                path.unlink(missing_ok=True)
                handle.close()
        if taken:
            log.info("spooled deliveries found, writing them to redis", events=taken)
        return taken
