"""Attempt outcomes, written to the store in batches (few commits), counted in memory.

A store error while recording stays with the outcomes it concerns: the batch is written again
one outcome at a time, the ones that still fail are logged against their delivery and
endpoint and kept for a later try (with backoff), and the others are stored. Until its outcome
is stored a delivery stays claimed (``in_flight``) in the store, so a crash meanwhile resumes
it: at least once, whatever the store did.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Protocol

import anyio

from core.logging import get_logger
from plugins.webhook.store import AttemptRecord, DeliveryStore

log = get_logger("plugins.webhook")

#: First and longest wait before outcomes the store refused are written again.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class Notified(Protocol):
    def notify(self) -> None: ...


class AttemptRecorder:
    """Batches attempt outcomes into few commits; tells the workers when they are stored."""

    def __init__(self, store: DeliveryStore, max_batch: int = 256, linger: float = 0.005) -> None:
        self.store = store
        self.max_batch = max_batch
        self.linger = linger
        self._pending: list[AttemptRecord] = []
        self._to_notify: set[Notified] = set()
        self._wake = anyio.Event()
        #: What to name in a log line about an outcome the store refused: its endpoint.
        self._endpoint_of: dict[str, str] = {}
        #: Outcomes the store refused, kept for their next try (at ``_retry_at``, monotonic).
        self._refused: list[AttemptRecord] = []
        self._retry_at = 0.0
        self._retry_delay = RETRY_FIRST_SECONDS
        self._flushing = anyio.Lock()
        #: Attempt outcomes so far, by status (``delivered``, ``pending`` = retried …).
        self.outcomes: Counter[str] = Counter()
        #: Outcomes the store refused at least once (each logged).
        self.store_errors = 0

    def add(self, record: AttemptRecord, worker: Notified | None = None, endpoint: str = "") -> None:
        """Queue ``record``; ``worker`` is woken once it is stored (the next delivery of its
        chat may be claimable then)."""
        self._pending.append(record)
        if worker is not None:
            self._to_notify.add(worker)
        self.outcomes[record.outcome] += 1
        if endpoint:
            self._endpoint_of[record.delivery_id] = endpoint
        self._wake.set()

    @property
    def unstored(self) -> int:
        """Outcomes not in the store yet (queued, or refused by it and kept)."""
        return len(self._pending) + len(self._refused)

    async def flush(self) -> None:
        """Write what is queued, and what the store refused before once its wait is over."""
        async with self._flushing:
            retrying = bool(self._refused) and time.monotonic() >= self._retry_at
            retried: set[str] = set()
            if retrying:
                retried = {record.delivery_id for record in self._refused}
                self._pending[:0], self._refused = self._refused, []
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: len(batch)]
                try:
                    await self._write(batch)
                except BaseException:
                    # Cancelled on the way (a stop): the batch is written by the last flush.
                    self._pending[:0] = batch
                    raise
            if retried:
                still = sum(1 for record in self._refused if record.delivery_id in retried)
                if still < len(retried):
                    log.info("outcomes the store refused before are stored now",
                             deliveries=len(retried) - still, still_refused=len(self._refused))
            if self._refused:
                if retrying:
                    self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_SECONDS)
                self._retry_at = time.monotonic() + self._retry_delay
            else:
                self._retry_delay = RETRY_FIRST_SECONDS
            workers, self._to_notify = self._to_notify, set()
            for worker in workers:
                worker.notify()

    async def _write(self, batch: list[AttemptRecord]) -> None:
        try:
            await self.store.record(batch)
            stored = batch
        except Exception:
            stored = []
            for record in batch:  # one at a time: one refusal must not keep the others out
                try:
                    await self.store.record([record])
                except Exception as exc:
                    self._refuse(record, exc)
                else:
                    stored.append(record)
        for record in stored:
            self._endpoint_of.pop(record.delivery_id, None)

    def _refuse(self, record: AttemptRecord, exc: Exception) -> None:
        self.store_errors += 1
        self._refused.append(record)
        log.warning("cannot store the outcome of an attempt; it is kept and stored later "
                    "(the delivery stays claimed meanwhile)",
                    delivery_id=record.delivery_id, endpoint=self._endpoint_of.get(record.delivery_id),
                    attempt=record.attempt, outcome=record.outcome, error=f"{type(exc).__name__}: {exc}")

    async def run(self) -> None:
        try:
            while True:
                if self._refused:
                    with anyio.move_on_after(max(0.0, self._retry_at - time.monotonic())):
                        await self._wake.wait()
                else:
                    await self._wake.wait()
                self._wake = anyio.Event()
                if len(self._pending) < self.max_batch:
                    await anyio.sleep(self.linger)
                await self.flush()
        finally:
            with anyio.CancelScope(shield=True):
                self._retry_at = 0.0
                await self.flush()
