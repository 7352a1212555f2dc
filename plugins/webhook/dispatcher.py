"""Dispatch from the store: one worker per endpoint, so one slow or dead URL never delays another.

A worker claims due deliveries of its endpoint (oldest first; with ``ordering = "chat"`` only
the oldest unfinished one per chat), hands them to its sender tasks through a deque, and the
:class:`~plugins.webhook.recorder.AttemptRecorder` writes outcomes to the store in batches. A
circuit breaker pauses an endpoint after consecutive failures and then probes it with one
delivery at a time; a 410 disables it until ``endpoints enable``.

Errors stay where they happen: whatever goes wrong while one attempt is made, judged or
recorded is logged against that delivery and endpoint, and the delivery is retried later; a
store error while claiming is logged against the endpoint and the claim tried again. Neither
stops the worker, another endpoint's worker or the sink.

Several dispatching processes may share one store: an endpoint's ``concurrency`` is then
split between them (:attr:`EndpointWorker.slots`, set by the sink), so its in-flight limit
holds across all of them.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from typing import Any

import aiohttp
import anyio

from core.logging import get_logger, level_check
from plugins.webhook.config import WebhookConfig
from plugins.webhook.http import AttemptAnswer, EndpointRequest, post, redact_url
from plugins.webhook.metrics import EndpointMetrics
from plugins.webhook.outcome import Verdict, judge
from plugins.webhook.recorder import AttemptRecorder
from plugins.webhook.retry import RetryPolicy
from plugins.webhook.sqlite_store import now_ms
from plugins.webhook.store import AttemptRecord, ClaimedDelivery, DeliveryStore

log = get_logger("plugins.webhook")
_log_enabled = level_check("plugins.webhook")

#: Longest idle wait before a worker looks at the store again (catches CLI re-sends/enables);
#: shorter in a process that has no intake of its own (role ``worker``): it learns of new
#: deliveries only from the store.
IDLE_POLL_SECONDS = 1.0
REMOTE_INTAKE_POLL_SECONDS = 0.1
#: The wait before a retry when hookwire itself failed to judge an attempt (a bug, or a
#: config value the policy cannot compute with): the delivery is retried, never lost.
FALLBACK_RETRY_SECONDS = 30.0
#: Claimed ahead of the senders (``EndpointWorker.prefetch``): at least, per sender, at most.
#: The most is also what an endpoint with a backlog holds in memory (1,024 bodies).
PREFETCH_MIN, PREFETCH_PER_SLOT, PREFETCH_MAX = 256, 32, 1024
#: Longest wait between claims while the store keeps failing.
STORE_RETRY_MAX_SECONDS = 10.0

__all__ = ["AttemptRecorder", "EndpointWorker"]


class EndpointWorker:
    def __init__(self, hook: WebhookConfig, store: DeliveryStore, http: aiohttp.ClientSession,
                 recorder: AttemptRecorder, state: str = "active", failures: int = 0,
                 idle_poll: float = IDLE_POLL_SECONDS) -> None:
        self.hook = hook
        self.idle_poll = idle_poll
        self.endpoint = hook.key
        #: What logs show: the key is the URL unless the webhook has a name (never credentials).
        self.endpoint_shown = redact_url(hook.key)
        self.url = redact_url(hook.url)
        self.metrics = EndpointMetrics(self.endpoint_shown)
        self.store = store
        self.http = http
        self.recorder = recorder
        self.policy = RetryPolicy(hook.retries)
        self.request = EndpointRequest(hook)
        self.state = state
        self.failures = failures
        self.paused_until = 0.0
        #: The one delivery a paused endpoint may be sent (its probe).
        self.probe_id: str | None = None
        self.in_flight = 0
        #: Senders allowed to send (this process's share of ``concurrency``).
        self.slots = hook.concurrency
        self.stopping = False
        self._wake = anyio.Event()
        #: Claimed deliveries waiting for a sender; ``_work`` wakes senders, ``_room`` the loader.
        self._queue: deque[ClaimedDelivery] = deque()
        self._work = anyio.Event()
        self._room = anyio.Event()
        self._low_water = 16
        self._closed = False
        #: When a sender last took a delivery from the queue, and when the queue last went
        #: from empty to not empty (ms): deliveries claimed but waiting for a sender (a
        #: black-holed endpoint's) are as stuck as due ones in the store (:meth:`waiting_ms`).
        self._taken_at = 0
        self._filled_at = 0
        #: The last claim found every due delivery of the endpoint: the store has no backlog
        #: for it, so new deliveries may come straight from the intake (:meth:`offer`).
        self.caught_up = False

    def notify(self) -> None:
        """New deliveries may be due."""
        self._wake.set()

    def set_slots(self, slots: int) -> None:
        """This process's share of the endpoint's in-flight limit (0 = send nothing here)."""
        slots = max(0, min(slots, self.hook.concurrency))
        if slots != self.slots:
            self.slots = slots
            self._work.set()
            self._wake.set()

    @property
    def prefetch(self) -> int:
        """Deliveries claimed ahead of the senders: enough that the queue outlasts a claim
        waiting behind the intake's commits (tens of milliseconds at thousands per second)."""
        return min(PREFETCH_MAX, max(PREFETCH_MIN, self.slots * PREFETCH_PER_SLOT))

    def room(self) -> int:
        """How many new deliveries the intake may hand over right now, claimed as they are
        written (no claim transaction): only while the store has no backlog for the endpoint
        (older deliveries go first), the endpoint is healthy and unordered (per-chat order
        needs the store's view of each chat), and the queue has room."""
        if (self.stopping or not self.caught_up or self.state != "active" or not self.slots
                or self.hook.ordering == "chat"):
            return 0
        return max(0, self.prefetch - len(self._queue))

    def offer(self, deliveries: list[ClaimedDelivery]) -> bool:
        """Queue deliveries the intake claimed for this worker as it wrote them; ``False``
        if the worker is stopping (the caller gives them back)."""
        if self.stopping or self._closed:
            return False
        self._enqueue(deliveries)
        return True

    def _enqueue(self, deliveries: list[ClaimedDelivery]) -> None:
        """Claimed deliveries, for the senders."""
        if not self._queue:
            self._filled_at = now_ms()
        self._queue.extend(deliveries)
        self.in_flight += len(deliveries)
        self._work.set()

    def waiting_ms(self, now: int) -> int | None:
        """How long claimed deliveries have waited in this worker's queue with no sender
        taking one (ms), ``None`` when none waits."""
        if not self._queue:
            return None
        return max(0, now - max(self._taken_at, self._filled_at))

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
        try:
            async with anyio.create_task_group() as tg:
                for number in range(self.hook.concurrency):
                    tg.start_soon(self._sender, number)
                try:
                    await self._load()
                finally:
                    self._closed = True
                    self._work.set()
        finally:
            # Claimed but never sent (a stop): back to pending, in one commit.
            leftovers = [d.id for d in self._queue]
            self._queue.clear()
            self.in_flight -= len(leftovers)
            with anyio.CancelScope(shield=True):
                try:
                    await self.store.release(leftovers)
                except Exception as exc:  # they stay claimed: the next start resumes them
                    log.warning("cannot give back claimed deliveries; the next start resumes them",
                                endpoint=self.endpoint_shown, deliveries=len(leftovers),
                                error=f"{type(exc).__name__}: {exc}")

    async def _load(self) -> None:
        """Claim due deliveries in batches and queue them for the senders."""
        failing = 0
        while not self.stopping:
            try:
                wait = await self._load_once()
                failing = 0
            except Exception as exc:
                failing += 1
                wait = min(STORE_RETRY_MAX_SECONDS, 0.1 * 2 ** failing)
                log.warning("cannot claim deliveries from the store; trying again",
                            endpoint=self.endpoint_shown, url=self.url, retry_in_s=round(wait, 3),
                            error=f"{type(exc).__name__}: {exc}")
            if wait is not None:
                await self._wait(wait)

    async def _load_once(self) -> float | None:
        """One step of the loader: claim, or say how long to wait (``None``: go on at once)."""
        if self.state == "disabled":
            await self._wait(IDLE_POLL_SECONDS)
            await self._reload_state()
            return None
        if not self.slots:
            return self.idle_poll  # another dispatcher has this endpoint's whole limit
        prefetch = self.prefetch
        self._low_water = prefetch // 2
        paused = self.state == "paused"
        if paused:
            wait = self.paused_until - time.monotonic()
            if wait > 0 or self.in_flight:
                return wait if wait > 0 else self.idle_poll
        elif len(self._queue) > self._low_water:
            # Enough queued: claim the next batch while the senders still have work, so they
            # never starve while the store is asked again.
            self._room = anyio.Event()
            await self._room.wait()
            return None
        limit = 1 if paused else prefetch
        claimed = await self.store.claim_due(self.endpoint, now_ms(), limit, self.hook.ordering == "chat")
        self.caught_up = not paused and len(claimed) < limit
        if claimed:
            if paused:
                self.probe_id = claimed[0].id
                self.paused_until = time.monotonic() + self.hook.circuit_breaker.probe_seconds
            self._enqueue(claimed)
            return None
        due = await self.store.next_due_at(self.endpoint)
        return self.idle_poll if due is None else min(self.idle_poll, (due - now_ms()) / 1000)

    async def _reload_state(self) -> None:
        row = await self.store.endpoint(self.endpoint)  # type: ignore[attr-defined]
        if row is not None and row.state == "active" and self.state != "active":
            log.info("endpoint enabled", endpoint=self.endpoint_shown, url=self.url)
            self.state, self.failures = "active", 0

    async def _sender(self, number: int) -> None:
        # A deque and two events rather than a memory stream: this is the per-delivery hot
        # path, and a stream costs two checkpoints per item.
        queue = self._queue
        while True:
            while not queue or self.stopping or number >= self.slots:
                if self._closed or self.stopping:
                    return
                await self._work.wait()
                if (not queue or number >= self.slots) and self._work.is_set():
                    self._work = anyio.Event()
            delivery = queue.popleft()
            self._taken_at = now_ms()
            if len(queue) <= self._low_water:
                self._room.set()
            try:
                if self.state != "active" and delivery.id != self.probe_id:
                    await self._hold(delivery)
                else:
                    await self._attempt(delivery)
            except Exception as exc:
                self._failed_inside(delivery, exc)
            finally:
                self.in_flight -= 1

    def _failed_inside(self, delivery: ClaimedDelivery, exc: Exception) -> None:
        """Something in hookwire failed around this delivery's attempt: logged against it,
        and its claim is given back through the recorder, as a failed attempt to retry."""
        status, next_at = self._fallback_outcome(delivery)
        error = f"{type(exc).__name__}: {exc}"
        log.error("delivery attempt failed inside hookwire", delivery_id=delivery.id,
                  event_id=delivery.event_id, endpoint=self.endpoint_shown, url=self.url, error=error,
                  outcome=status, next_attempt_at=next_at)
        self.recorder.add(AttemptRecord(
            delivery_id=delivery.id, attempt=delivery.attempts + 1, started_at=now_ms(), duration_ms=0.0,
            status_code=None, error=f"hookwire error: {error}", response_body=None, outcome=status,  # type: ignore[arg-type]
            next_attempt_at=next_at), self, self.endpoint_shown)
        self.metrics.attempt(delivery.id, None, 0.0, status)

    def _fallback_outcome(self, delivery: ClaimedDelivery) -> tuple[str, int | None]:
        """Retry after :data:`FALLBACK_RETRY_SECONDS` while the retry budget lasts (as far as
        it can be known), else dead (kept, re-sendable)."""
        try:
            budget = self.policy.max_attempts
        except Exception:
            budget = 16
        if delivery.tries + 1 < budget:
            return "pending", now_ms() + int(FALLBACK_RETRY_SECONDS * 1000)
        return "dead", None

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
        answer = await post(self.http, self.request, delivery, attempt)
        try:
            verdict = judge(answer, self.hook, self.policy, delivery.tries + 1)
            next_at = None if verdict.delay is None else started + _delay_ms(verdict.delay)
        except Exception as exc:
            verdict, next_at = self._fallback_verdict(delivery, answer, exc)
        if verdict.status == "pending" and self.state == "disabled":
            verdict.status, next_at = "disabled", None
        self.recorder.add(AttemptRecord(
            delivery_id=delivery.id, attempt=attempt, started_at=started,
            duration_ms=answer.duration_ms, status_code=answer.status_code, error=answer.error,
            response_body=answer.response_body, outcome=verdict.status, next_attempt_at=next_at,
        ), self, self.endpoint_shown)
        self.metrics.attempt(delivery.id, answer.status_code, answer.duration_ms, verdict.status)
        if verdict.status == "delivered":
            # The hot path: a counter (the recorder's outcomes), and a debug line only when
            # someone reads debug lines.
            if _log_enabled(logging.DEBUG):
                log.debug("delivery attempt", **self._fields(delivery, attempt, answer, verdict.status, next_at))
            if not self.failures and self.state == "active":
                return  # healthy and still healthy: nothing to write
        elif verdict.status == "dead":
            log.error("delivery dead", **self._fields(delivery, attempt, answer, verdict.status, next_at))
        else:
            log.warning("delivery attempt", **self._fields(delivery, attempt, answer, verdict.status, next_at))
        try:
            await self._health(verdict.failure, verdict.disable_endpoint, answer.status_code, answer.error)
        except Exception as exc:  # the outcome is recorded; the endpoint row is written next time
            log.warning("cannot write the endpoint's health to the store", endpoint=self.endpoint_shown,
                        url=self.url, error=f"{type(exc).__name__}: {exc}")

    def _fallback_verdict(self, delivery: ClaimedDelivery, answer: AttemptAnswer,
                          exc: Exception) -> tuple[Verdict, int | None]:
        """The attempt failed and its retry could not be computed (the policy raised, or gave
        a delay that is not a number of seconds): the fallback delay instead."""
        status, next_at = self._fallback_outcome(delivery)
        log.error("cannot compute the retry of a failed attempt; using the fallback delay",
                  delivery_id=delivery.id, endpoint=self.endpoint_shown, url=self.url,
                  status=answer.status_code, error=f"{type(exc).__name__}: {exc}", outcome=status,
                  next_attempt_at=next_at)
        return Verdict(status=status, failure=True), next_at  # type: ignore[arg-type]

    def _fields(self, delivery: ClaimedDelivery, attempt: int, answer: AttemptAnswer, outcome: str,
                next_at: int | None) -> dict[str, Any]:
        return dict(
            delivery_id=delivery.id, event_id=delivery.event_id, event_name=delivery.event_name,
            session=delivery.session, url=self.url, attempt=attempt, status=answer.status_code,
            duration_ms=answer.duration_ms, error=answer.error, outcome=outcome, next_attempt_at=next_at,
            response=_response_excerpt(answer),
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


def _response_excerpt(answer: AttemptAnswer) -> str | None:
    """The start of what a receiver that refused said (its body, on one line)."""
    if answer.status_code is None or 200 <= answer.status_code < 300 or not answer.response_body:
        return None
    return " ".join(answer.response_body.split())[:80]


def _delay_ms(seconds: float) -> int:
    """Milliseconds of a retry delay; a delay that is not a finite number >= 0 is an error."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"the retry delay is {seconds!r} seconds")
    return math.ceil(seconds * 1000)
