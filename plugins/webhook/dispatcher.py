"""Dispatch from the store: one worker per endpoint, so one slow or dead URL never delays another.

A worker claims due deliveries of its endpoint (oldest first; with ``ordering = "chat"`` only
the oldest unfinished one per chat), hands them to ``concurrency`` sender tasks through a
bounded queue, and the :class:`AttemptRecorder` writes outcomes to the store in batches. A
circuit breaker pauses an endpoint after consecutive failures and then probes it with one
delivery at a time; a 410 disables it until ``endpoints enable``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, deque
from typing import Any

import aiohttp
import anyio

from core.logging import get_logger, level_check
from plugins.webhook.config import WebhookConfig
from plugins.webhook.http import AttemptAnswer, post, redact_url
from plugins.webhook.outcome import judge
from plugins.webhook.retry import RetryPolicy
from plugins.webhook.signing import StandardWebhooksSigner
from plugins.webhook.sqlite_store import now_ms
from plugins.webhook.store import AttemptRecord, ClaimedDelivery, DeliveryStore

log = get_logger("plugins.webhook")
_log_enabled = level_check("plugins.webhook")

#: Longest idle wait before a worker looks at the store again (catches CLI re-sends/enables).
IDLE_POLL_SECONDS = 1.0


class AttemptRecorder:
    """Batches attempt outcomes into few commits; tells the workers when they are stored."""

    def __init__(self, store: DeliveryStore, max_batch: int = 256, linger: float = 0.005) -> None:
        self.store = store
        self.max_batch = max_batch
        self.linger = linger
        self._pending: list[AttemptRecord] = []
        self._to_notify: set[EndpointWorker] = set()
        self._wake = anyio.Event()
        self._flushed = anyio.Event()
        self.outcomes: Counter[str] = Counter()

    def add(self, record: AttemptRecord, worker: EndpointWorker | None = None) -> None:
        """Queue ``record``; ``worker`` is woken once it is stored (the next delivery of its
        chat may be claimable then)."""
        self._pending.append(record)
        if worker is not None:
            self._to_notify.add(worker)
        self.outcomes[record.outcome] += 1
        self._wake.set()

    async def wait_flushed(self) -> None:
        await self._flushed.wait()

    async def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
            await self.store.record(batch)
        workers, self._to_notify = self._to_notify, set()
        for worker in workers:
            worker.notify()
        flushed, self._flushed = self._flushed, anyio.Event()
        flushed.set()

    async def run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake = anyio.Event()
                if len(self._pending) < self.max_batch:
                    await anyio.sleep(self.linger)
                await self.flush()
        finally:
            with anyio.CancelScope(shield=True):
                await self.flush()


class EndpointWorker:
    def __init__(self, hook: WebhookConfig, store: DeliveryStore, http: aiohttp.ClientSession,
                 recorder: AttemptRecorder, state: str = "active", failures: int = 0) -> None:
        self.hook = hook
        self.endpoint = hook.key
        #: What logs show: the key is the URL unless the webhook has a name (never credentials).
        self.endpoint_shown = redact_url(hook.key)
        self.url = redact_url(hook.url)
        self.store = store
        self.http = http
        self.recorder = recorder
        self.policy = RetryPolicy(hook.retries)
        self.signer = StandardWebhooksSigner(hook.secrets) if hook.secrets else None
        self.state = state
        self.failures = failures
        self.paused_until = 0.0
        #: The one delivery a paused endpoint may be sent (its probe).
        self.probe_id: str | None = None
        self.in_flight = 0
        self.stopping = False
        self._wake = anyio.Event()
        #: Claimed deliveries waiting for a sender; ``_work`` wakes senders, ``_room`` the loader.
        self._queue: deque[ClaimedDelivery] = deque()
        self._work = anyio.Event()
        self._room = anyio.Event()
        self._low_water = 16
        self._closed = False

    def notify(self) -> None:
        """New deliveries may be due."""
        self._wake.set()

    def stop(self) -> None:
        """Claim nothing more; senders finish the attempt they are making."""
        self.stopping = True
        self._wake.set()
        self._work.set()
        self._room.set()

    async def _wait(self, seconds: float) -> None:
        with anyio.move_on_after(max(0.0, seconds)):
            await self._wake.wait()
        self._wake = anyio.Event()

    async def run(self) -> None:
        prefetch = max(32, self.hook.concurrency * 4)
        self._low_water = prefetch // 2
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(self.hook.concurrency):
                    tg.start_soon(self._sender)
                try:
                    await self._load(prefetch)
                finally:
                    self._closed = True
                    self._work.set()
        finally:
            # Claimed but never sent (a stop): back to pending, in one commit.
            leftovers = [d.id for d in self._queue]
            self._queue.clear()
            self.in_flight -= len(leftovers)
            with anyio.CancelScope(shield=True):
                await self.store.release(leftovers)

    async def _load(self, prefetch: int) -> None:
        """Claim due deliveries in batches and queue them for the senders."""
        while not self.stopping:
            if self.state == "disabled":
                await self._wait(IDLE_POLL_SECONDS)
                await self._reload_state()
                continue
            paused = self.state == "paused"
            if paused:
                wait = self.paused_until - time.monotonic()
                if wait > 0 or self.in_flight:
                    await self._wait(wait if wait > 0 else IDLE_POLL_SECONDS)
                    continue
            elif len(self._queue) > self._low_water:
                # Enough queued: claim the next batch while the senders still have work, so
                # they never starve while the store is asked again.
                self._room = anyio.Event()
                await self._room.wait()
                continue
            claimed = await self.store.claim_due(self.endpoint, now_ms(), 1 if paused else prefetch,
                                                 self.hook.ordering == "chat")
            if claimed:
                if paused:
                    self.probe_id = claimed[0].id
                    self.paused_until = time.monotonic() + self.hook.circuit_breaker.probe_seconds
                self._queue.extend(claimed)
                self.in_flight += len(claimed)
                self._work.set()
                continue
            due = await self.store.next_due_at(self.endpoint)
            wait = IDLE_POLL_SECONDS if due is None else min(IDLE_POLL_SECONDS, (due - now_ms()) / 1000)
            await self._wait(wait)

    async def _reload_state(self) -> None:
        row = await self.store.endpoint(self.endpoint)  # type: ignore[attr-defined]
        if row is not None and row.state == "active" and self.state != "active":
            log.info("endpoint enabled", endpoint=self.endpoint_shown, url=self.url)
            self.state, self.failures = "active", 0

    async def _sender(self) -> None:
        # A deque and two events rather than a memory stream: this is the per-delivery hot
        # path, and a stream costs two checkpoints per item.
        while True:
            while not self._queue or self.stopping:
                if self._closed or self.stopping:
                    return
                await self._work.wait()
                if not self._queue and self._work.is_set():
                    self._work = anyio.Event()
            delivery = self._queue.popleft()
            if len(self._queue) <= self._low_water:
                self._room.set()
            try:
                if self.state != "active" and delivery.id != self.probe_id:
                    await self._hold(delivery)
                    continue
                await self._attempt(delivery)
            finally:
                self.in_flight -= 1

    async def _hold(self, delivery: ClaimedDelivery) -> None:
        """Give back, without an attempt, a delivery claimed before the endpoint was paused
        (the probe goes alone) or disabled (held with the endpoint's other deliveries)."""
        await self.store.release([delivery.id])
        if self.state == "disabled":
            await self.store.set_endpoint(self.endpoint, self.hook.url, "disabled", "410 Gone",
                                          self.failures, None, None)

    async def _attempt(self, delivery: ClaimedDelivery) -> None:
        attempt = delivery.attempts + 1
        started = now_ms()
        answer = await post(self.http, self.hook, delivery, attempt, self.signer)
        verdict = judge(answer, self.hook, self.policy, delivery.tries + 1)
        if verdict.status == "pending" and self.state == "disabled":
            verdict.status, verdict.delay = "disabled", None
        next_at = None if verdict.delay is None else started + math.ceil(verdict.delay * 1000)
        self.recorder.add(AttemptRecord(
            delivery_id=delivery.id, attempt=attempt, started_at=started,
            duration_ms=answer.duration_ms, status_code=answer.status_code, error=answer.error,
            response_body=answer.response_body, outcome=verdict.status, next_attempt_at=next_at,
        ), self)
        if verdict.status == "delivered":
            # The hot path: a counter (the recorder's outcomes), and a debug line only when
            # someone reads debug lines.
            if _log_enabled(logging.DEBUG):
                log.debug("delivery attempt", **self._fields(delivery, attempt, answer, verdict.status, next_at))
        elif verdict.status == "dead":
            log.error("delivery dead", **self._fields(delivery, attempt, answer, verdict.status, next_at))
        else:
            log.warning("delivery attempt", **self._fields(delivery, attempt, answer, verdict.status, next_at))
        await self._health(verdict.failure, verdict.disable_endpoint, answer.status_code, answer.error)

    def _fields(self, delivery: ClaimedDelivery, attempt: int, answer: AttemptAnswer, outcome: str,
                next_at: int | None) -> dict[str, Any]:
        return dict(
            delivery_id=delivery.id, event_id=delivery.event_id, event_name=delivery.event_name,
            session=delivery.session, url=self.url, attempt=attempt, status=answer.status_code,
            duration_ms=answer.duration_ms, error=answer.error, outcome=outcome, next_attempt_at=next_at,
        )

    async def _health(self, failed: bool, disable: bool, status: int | None, error: str | None) -> None:
        stamp = now_ms()
        if disable:
            self.state = "disabled"
            log.warning("endpoint disabled: it answered 410 Gone; pending deliveries are kept",
                        endpoint=self.endpoint_shown, url=self.url, status=status)
            await self.store.set_endpoint(self.endpoint, self.hook.url, "disabled", "410 Gone",
                                          self.failures, None, stamp)
            return
        if not failed:
            if self.failures or self.state == "paused":
                if self.state == "paused":
                    log.info("endpoint resumed", endpoint=self.endpoint_shown, url=self.url)
                self.state, self.failures = "active", 0
                await self.store.set_endpoint(self.endpoint, self.hook.url, "active", None, 0, stamp, None)
                self._wake.set()
            return
        self.failures += 1
        threshold = self.hook.circuit_breaker.failures
        if threshold and self.failures >= threshold and self.state == "active":
            self.state = "paused"
            self.paused_until = time.monotonic() + self.hook.circuit_breaker.probe_seconds
            log.warning("endpoint paused by the circuit breaker", endpoint=self.endpoint_shown,
                        url=self.url, consecutive_failures=self.failures,
                        probe_seconds=self.hook.circuit_breaker.probe_seconds,
                        status=status, error=error)
            await self.store.set_endpoint(self.endpoint, self.hook.url, "paused",
                                          f"{self.failures} consecutive failures", self.failures,
                                          None, stamp)
