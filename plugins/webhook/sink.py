"""The webhook sink: match events to webhooks, persist, then dispatch from the store.

The bus subscriber only matches filters and writes deliveries to the store, in batches, before
taking more from the bus (persist before acknowledge). Dispatch runs from the store, one
:class:`EndpointWorker` per endpoint, so a dead receiver, a restart or a crash loses nothing and
engines are never held back by a slow URL.
"""

from __future__ import annotations

import contextvars
import math
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
from aiohttp import web
from anyio.abc import TaskGroup, TaskStatus

from core.bus import Subscription, matches
from core.config import Config
from core.events import Envelope, encoder
from core.logging import get_logger
from core.ulid import new_ulid
from plugins.webhook.config import DeliveryConfig, RetryConfig, WebhookConfig
from plugins.webhook.dispatcher import IDLE_POLL_SECONDS, REMOTE_INTAKE_POLL_SECONDS, EndpointWorker
from plugins.webhook.http import redact_url
from plugins.webhook.matching import chat_of
from plugins.webhook.receiver import ReceiverOptions, start_receiver
from plugins.webhook.recorder import AttemptRecorder
from plugins.webhook.redis_config import endpoint_settings, redis_store
from plugins.webhook.routing import HookRouting, scoped_to_session
from plugins.webhook.sqlite_store import SQLiteDeliveryStore, now_ms
from plugins.webhook.ssrf import untrusted_client_session
from plugins.webhook.store import ClaimedDelivery, DeliveryStore, EndpointRow, NewDelivery, StoredEvent

log = get_logger("plugins.webhook")

DEMO_ENDPOINT = "demo-receiver"
PRUNE_EVERY_SECONDS = 600.0
#: How often the workers of endpoints no webhook uses any more are checked for leftovers.
RETIRE_POLL_SECONDS = 0.5
#: How often a dispatcher of a SQLite store looks for dispatchers that came or went (a stat),
#: and how often it looks at all of them whatever (for killed ones, whose lock file stays).
SHARE_CHECK_SECONDS = 0.1
SHARE_POLL_SECONDS = 2.0
#: A dispatcher joining others sends nothing for this long: they see it and give up their
#: share of each endpoint's limit first (their requests in flight meanwhile finish).
SHARE_SETTLE_SECONDS = 0.5


def store_path(config: Config, delivery: DeliveryConfig) -> Path:
    if delivery.store_path:
        return config.resolve_path(delivery.store_path)
    return config.data_dir / "deliveries.sqlite3"


def open_store(config: Config, *, for_cli: bool = False) -> DeliveryStore:
    """The configured store: SQLite (one host) or Redis (``redis_config.py``); ``for_cli``: a
    one-shot command's, which fails at once rather than waiting for an unreachable Redis."""
    delivery: DeliveryConfig = config.section("delivery")
    if delivery.backend == "redis":
        return redis_store(config, for_cli=for_cli)
    return SQLiteDeliveryStore(store_path(config, delivery), delivery.sqlite_synchronous)


class _Target:
    """An endpoint as one intake batch sees it."""

    __slots__ = ("key", "url", "status", "worker", "room", "claimed", "count")

    def __init__(self, hook: WebhookConfig, worker: EndpointWorker | None, direct: bool) -> None:
        self.key, self.url, self.worker = hook.key, hook.url, worker
        self.status = "disabled" if worker is not None and worker.state == "disabled" else "pending"
        self.room = worker.room() if direct and worker is not None else 0
        self.claimed: list[ClaimedDelivery] = []
        #: Deliveries of the batch for this endpoint.
        self.count = 0


class WebhookSink:
    name = "webhook"
    overflow = "block"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.delivery: DeliveryConfig = config.section("delivery")
        self.hooks: list[WebhookConfig] = list(config.section("webhooks"))
        self.demo = not self.hooks and self.delivery.demo_receiver
        #: The static webhooks and the ones set per session over the API (``routing.py``).
        self.routing = HookRouting(self.hooks)
        self.events = self._needed_events()
        #: The bus subscription of the current run; its filter follows ``self.events``.
        self.subscription: Subscription | None = None
        self._workers_tg: TaskGroup | None = None
        self._context = contextvars.Context()
        #: Trusted (config file, env) and untrusted (API, SSRF-guarded) HTTP clients of the run.
        self._clients: dict[bool, aiohttp.ClientSession] = {}
        self._hooks_lock = anyio.Lock()
        self._retire_wake = anyio.Event()
        self.store = open_store(config)
        #: Role ``engines`` writes deliveries only; workers (role ``worker``, elsewhere) send them.
        self.dispatching = config.core.kernel.role != "engines"
        #: Role ``worker`` has no intake that would tell its workers of new deliveries.
        self._idle_poll = REMOTE_INTAKE_POLL_SECONDS if config.core.kernel.role == "worker" else IDLE_POLL_SECONDS
        self.workers: dict[str, EndpointWorker] = {}
        self.recorder: AttemptRecorder | None = None
        self.stopping = anyio.Event()
        self.ingested_events = 0
        self.ingested_deliveries = 0
        #: This dispatcher's place among the live ones of a shared SQLite store (index, count).
        self.share = (0, 1)
        #: Until then (monotonic), a dispatcher that joined others sends nothing.
        self._settle_until: float | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def begin_shutdown(self) -> None:
        self.stopping.set()
        for worker in self.workers.values():
            worker.stop()

    async def run(self, subscription: Subscription, *, task_status: TaskStatus[None]) -> None:
        self.subscription = subscription
        subscription.events = self.events  # session webhooks may have been set before the run
        await self.store.open()
        receiver: web.AppRunner | None = None
        try:
            # Only a dispatching process takes back claims of a stopped one (an engines
            # process sharing the SQLite file with a worker must not touch the worker's).
            recovered = await self.store.recover() if self.dispatching else 0
            if recovered:
                log.info("resuming deliveries interrupted by a stop or crash", deliveries=recovered)
            if self.demo:
                receiver, port = await start_receiver(ReceiverOptions(verbose=False))
                self.hooks = [WebhookConfig(url=f"http://127.0.0.1:{port}/webhook", events=["*"],
                                            name=DEMO_ENDPOINT,
                                            retries=RetryConfig(delay_seconds=0.5, attempts=3))]
                self.routing.static = self.hooks
                log.info("no webhook configured: delivering to the built-in demo receiver",
                         url=self.hooks[0].url)
            elif not self.hooks:
                log.warning("no webhook configured: events are not delivered "
                            "(set WHATSAPP_HOOK_URL and WHATSAPP_HOOK_EVENTS, or [[webhooks]])")
            # Senders are bounded per endpoint (its concurrency), and so are its connections.
            # No cookie jar: a receiver's Set-Cookie must not ride along on later deliveries.
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
            async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http, \
                    untrusted_client_session(self.delivery.allow_networks) as untrusted:
                self._clients = {True: http, False: untrusted}
                await self._serve(subscription, http, task_status)
        finally:
            with anyio.CancelScope(shield=True):
                if receiver is not None:
                    await receiver.cleanup()
                await self.store.close()

    async def _serve(self, subscription: Subscription, http: aiohttp.ClientSession,
                     task_status: TaskStatus[None]) -> None:
        self.recorder = recorder = AttemptRecorder(self.store)
        self.routing.restart()
        self.workers = {}
        known = {row.endpoint: row for row in await self.store.endpoints()}
        configured = self.routing.hooks_in_use()
        for row in known.values():
            if row.endpoint not in configured and row.pending:
                log.warning("deliveries kept for an endpoint that is no longer configured",
                            endpoint=redact_url(row.endpoint), url=redact_url(row.url),
                            deliveries=row.pending)
        async with anyio.create_task_group() as dispatch_tg:
            dispatch_tg.start_soon(recorder.run)
            dispatch_tg.start_soon(self._prune_forever)
            if self.dispatching and hasattr(self.store, "live_dispatchers"):
                await self._share_once()
                dispatch_tg.start_soon(self._share_forever)
            async with anyio.create_task_group() as workers_tg:
                async with self._hooks_lock:  # session webhooks set meanwhile get workers too
                    self._workers_tg, self._context = workers_tg, contextvars.copy_context()
                    self._install(await self._prepare_workers(self.routing.hooks_in_use().values()))
                dispatch_tg.start_soon(self._retire_unused)
                task_status.started()
                try:
                    await self._ingest(subscription)
                    await self._until_finished()
                finally:
                    self._workers_tg = None
                for worker in self.workers.values():
                    worker.stop()
            dispatch_tg.cancel_scope.cancel()  # the recorder flushes on the way out

    # -- session webhooks (set over the API) ---------------------------------------------------

    async def set_session_webhooks(self, session: str, hooks: list[WebhookConfig]) -> None:
        """Replace the webhooks that apply only to ``session`` (set over the API: untrusted,
        ``origin = "api"``; endpoint keys ``<session>/<name or URL>``). Config-file and env
        webhooks are unaffected. Raises ValueError for clashing endpoint keys.

        The change applies from the next event published: events published before it keep the
        old set, even those still buffered or being stored (``routing.py``). New endpoints get a
        worker at once; an endpoint no longer used keeps its worker until its stored deliveries
        are final (retries included), then the worker is retired. Callable before ``run``:
        applied at start."""
        static_keys = {hook.key for hook in self.routing.static}
        scoped = scoped_to_session(session, hooks, static_keys)
        async with self._hooks_lock:
            # Store reads first, so that the switch below happens without an await.
            prepared = await self._prepare_workers(scoped) if self._workers_tg is not None else {}
            self.routing.change(session, scoped, self._backlog())
            self._install(prepared)
            self.events = self._needed_events()
            if self.subscription is not None:
                self.subscription.events = self.events
            self._retire_wake.set()
        log.info("session webhooks set", session=session,
                 endpoints=",".join(redact_url(hook.key) for hook in scoped) or "-")

    def _needed_events(self) -> frozenset[str]:
        events = self.routing.needed_events()
        return events | {"*"} if self.demo else events

    def _backlog(self) -> int:
        """Events the bus has handed to the subscription that the intake has not taken yet,
        including those of publishers waiting for room (they arrive first, in order)."""
        if self.subscription is None:
            return 0
        stats = self.subscription.receive_stream.statistics()
        return stats.current_buffer_used + stats.tasks_waiting_send

    async def _prepare_workers(self, hooks: Iterable[WebhookConfig]) -> dict[str, EndpointWorker]:
        """Workers (not started) for the ``hooks`` that have none running their config; the
        endpoint rows are written. An endpoint whose config changed gets a new worker that
        takes over the old one's health (the old one finishes its attempts, then ends)."""
        rows: dict[str, EndpointRow] | None = None
        prepared: dict[str, EndpointWorker] = {}
        for hook in hooks:
            current = self.workers.get(hook.key)
            if current is not None and current.hook == hook:
                continue
            if current is not None:
                state, failures, reason = current.state, current.failures, None
            else:
                if rows is None:
                    rows = {row.endpoint: row for row in await self.store.endpoints()}
                row = rows.get(hook.key)
                state, failures = (row.state, row.consecutive_failures) if row else ("active", 0)
                reason = row.reason if row else None
            if hasattr(self.store, "describe_endpoint"):  # Redis: limits shared by all workers
                self.store.describe_endpoint(hook.key, endpoint_settings(hook))
            await self.store.set_endpoint(hook.key, hook.url, state,  # type: ignore[arg-type]
                                          reason, failures, None, None)
            assert self.recorder is not None
            prepared[hook.key] = EndpointWorker(hook, self.store, self._clients[hook.origin != "api"],
                                                self.recorder, state, failures, self._idle_poll)
            log.info("webhook endpoint", endpoint=redact_url(hook.key), url=redact_url(hook.url),
                     events=",".join(hook.events), state=state, origin=hook.origin)
        return prepared

    def _install(self, prepared: dict[str, EndpointWorker]) -> None:
        if self._workers_tg is None:
            return
        for key, worker in prepared.items():
            replaced = self.workers.get(key)
            if replaced is not None:
                replaced.stop()
            self.workers[key] = worker
            worker.set_slots(self._slots(worker.hook))
            if self.dispatching:
                # In the sink's log context (``plugin``), not the caller's (an API request).
                self._context.run(self._workers_tg.start_soon, worker.run)

    async def _retire_unused(self) -> None:
        """Stop the workers of endpoints that no webhook uses any more once every delivery
        they hold is final: what was matched before a change is still delivered."""
        while True:
            in_use = self.routing.hooks_in_use()
            unused = [(key, worker) for key, worker in self.workers.items() if key not in in_use]
            for key, worker in unused:
                try:
                    if await self.store.unfinished([key]):
                        continue
                except Exception as exc:
                    log.warning("cannot count an endpoint's deliveries; looking again later",
                                endpoint=worker.endpoint_shown, error=f"{type(exc).__name__}: {exc}")
                    continue
                if key in self.routing.hooks_in_use() or self.workers.get(key) is not worker:
                    continue  # set again meanwhile
                worker.stop()
                del self.workers[key]
                log.info("endpoint retired: no webhook uses it and its deliveries are final",
                         endpoint=worker.endpoint_shown, url=worker.url)
            wait = RETIRE_POLL_SECONDS if unused or not self.routing.settled else math.inf
            with anyio.move_on_after(wait):
                await self._retire_wake.wait()
            self._retire_wake = anyio.Event()

    # -- several dispatchers on one SQLite store -----------------------------------------------

    def _slots(self, hook: WebhookConfig) -> int:
        """This dispatcher's share of ``hook.concurrency``: the shares of the live dispatchers
        add up to it exactly; which of them gets one more (the remainder) depends on the
        endpoint, so that endpoints with a small limit are spread over the dispatchers."""
        index, count = self.share
        if count <= 1:
            return hook.concurrency
        if self._settle_until is not None:
            return 0
        base, extra = divmod(hook.concurrency, count)
        first = zlib.crc32(hook.key.encode()) % count
        return base + (1 if (index - first) % count < extra else 0)

    def _apply_share(self) -> None:
        for worker in self.workers.values():
            worker.set_slots(self._slots(worker.hook))

    async def _share_once(self) -> None:
        store: Any = self.store
        live = await store.live_dispatchers()
        me = store.dispatchers.id
        share = (live.index(me), len(live)) if me in live else (0, 1)
        if share != self.share:
            log.info("dispatchers sharing the store", dispatchers=len(live), index=share[0])
            if not self.workers and len(live) > 1:  # starting next to others: let them see us
                self._settle_until = time.monotonic() + SHARE_SETTLE_SECONDS
            self.share = share
            self._apply_share()
        taken = await store.reclaim()  # cheap: the distinct owners of the in-flight rows
        if taken:
            log.warning("deliveries claimed by a dispatcher that stopped are resumed (at least "
                        "once: an attempt whose outcome it did not store is sent again)",
                        deliveries=taken)
            for worker in self.workers.values():
                worker.notify()

    async def _share_forever(self) -> None:
        store: Any = self.store
        last = time.monotonic()
        while True:
            await anyio.sleep(SHARE_CHECK_SECONDS)
            if self._settle_until is not None and time.monotonic() >= self._settle_until:
                self._settle_until = None
                self._apply_share()
            if not store.dispatchers.changed() and time.monotonic() - last < SHARE_POLL_SECONDS:
                continue
            last = time.monotonic()
            try:
                await self._share_once()
            except Exception as exc:
                log.warning("cannot look at the other dispatchers of the store", error=f"{type(exc).__name__}: {exc}")

    # -- intake --------------------------------------------------------------------------------

    async def _ingest(self, subscription: Subscription) -> None:
        stream = subscription.receive_stream
        batch_size = self.delivery.batch_size
        while True:
            try:
                first = await stream.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return
            batch = [first]
            while len(batch) < batch_size:
                try:
                    batch.append(stream.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
            first = self.routing.take(len(batch))
            await self._persist(batch, first)
            self.routing.mark_persisted(first + len(batch))

    async def _persist(self, batch: list[Envelope], first: int) -> None:
        """Match and store ``batch``, whose events have intake positions ``first`` …"""
        events: list[StoredEvent] = []
        deliveries: list[NewDelivery] = []
        stamp = now_ms()
        # Per batch, not per delivery: each endpoint's key, state, and how many of its new
        # deliveries its worker takes straight from here (claimed as they are written).
        targets: dict[int, _Target] = {}
        direct = self.dispatching and getattr(self.store, "claims_on_add", False)
        encode = encoder.encode
        for position, event in enumerate(batch, first):
            hooks = self.routing.matching(position, event)
            if not hooks:
                continue
            event_id, body = event.id, encode(event)
            events.append(StoredEvent(event_id, event.name, event.session, event.timestamp, body))
            # The FIFO lane of ``ordering = "chat"``: per session, as two accounts share chats.
            chat = f"{event.session}/{chat_of(event)}"
            for hook in hooks:
                target = targets.get(id(hook))
                if target is None:
                    target = targets[id(hook)] = _Target(hook, self.workers.get(hook.key), direct)
                target.count += 1
                delivery_id = "dlv_" + new_ulid()
                status = target.status
                if target.room:
                    target.room -= 1
                    status = "in_flight"
                    target.claimed.append(ClaimedDelivery(delivery_id, event_id, event.name, event.session,
                                                          event.timestamp, target.key, target.url, 0, 0, body))
                deliveries.append(NewDelivery(delivery_id, event_id, target.key, target.url, chat, stamp,
                                              status))  # type: ignore[arg-type]
        if not deliveries:
            return
        delay = 0.1
        while True:  # the batch is only in memory: keep it until the store takes it
            try:
                claimed = await self.store.add(events, deliveries)
                break
            except Exception as exc:
                log.error("cannot write deliveries to the store, retrying", error=f"{type(exc).__name__}: {exc}",
                          events=len(events), retry_in_s=delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.ingested_events += len(events)
        self.ingested_deliveries += len(deliveries)
        for target in targets.values():
            handed = await self._hand_over(target, claimed or set())
            if target.worker is not None and handed < target.count:
                target.worker.notify()  # some wait in the store: the worker claims them

    async def _hand_over(self, target: _Target, written: set[str]) -> int:
        """Give a worker the deliveries claimed for it as they were written (how many it
        took); those it can no longer take (it stopped meanwhile) go back to pending."""
        mine = [d for d in target.claimed if d.id in written]
        if not mine or target.worker is None:
            return 0
        if self.workers.get(target.key) is target.worker and target.worker.offer(mine):
            return len(mine)
        try:
            await self.store.release([d.id for d in mine])
        except Exception as exc:  # claimed by this process: the next start resumes them
            log.warning("cannot give back deliveries claimed for a stopped worker; the next start resumes them",
                        endpoint=redact_url(target.key), deliveries=len(mine), error=f"{type(exc).__name__}: {exc}")
        return 0

    async def _until_finished(self) -> None:
        """After intake ends: wait until every delivery is final, or until shutdown begins.
        Role ``engines``: until every delivery is in the store (workers deliver them)."""
        if not self.dispatching:
            drain = getattr(self.store, "drain", None)  # Redis: what an outage left in the buffer
            if drain is not None:
                async with anyio.create_task_group() as tg:
                    async def until_shutdown() -> None:
                        await self.stopping.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(until_shutdown)
                    await drain()
                    tg.cancel_scope.cancel()
            return
        any_unfinished = getattr(self.store, "any_unfinished", None)
        while not self.stopping.is_set():
            if self.recorder is not None and self.recorder.unstored:
                await self.recorder.flush()
            try:
                endpoints = list(self.workers)
                if any_unfinished is not None:
                    if not await any_unfinished(endpoints):
                        return
                elif await self.store.unfinished(endpoints) == 0:
                    return
            except Exception as exc:
                log.warning("cannot count unfinished deliveries; looking again", error=f"{type(exc).__name__}: {exc}")
            with anyio.move_on_after(0.2):
                await self.stopping.wait()

    async def _prune_forever(self) -> None:
        while True:
            cutoff = now_ms() - int(self.delivery.retention_hours * 3_600_000)
            try:
                pruned = await self.store.prune(cutoff)
            except Exception as exc:
                log.warning("cannot prune delivered rows; trying again later", error=f"{type(exc).__name__}: {exc}")
            else:
                if pruned:
                    log.info("delivered rows pruned", deliveries=pruned,
                             retention_hours=self.delivery.retention_hours)
            await anyio.sleep(PRUNE_EVERY_SECONDS)

    async def stored_event_ids(self, event_ids: list[str]) -> set[str]:
        """Of ``event_ids``, the events that need nothing more from this sink: stored, with a
        delivery for every webhook that wants them now (the kernel asks for a resumed replay,
        ``core.kernel.Kernel.events_stored``). An event no webhook wants is never stored: it
        is sent again, and ignored again."""
        found = await self.store.event_deliveries(event_ids)
        hooks = list(self.routing.hooks_in_use().values())
        done = set()
        for event_id, stored in found.items():
            wanted = {hook.key for hook in hooks
                      if ("*" in hook.sessions or stored.session in hook.sessions)
                      and matches(hook.events, stored.name)}
            if wanted <= stored.endpoints:
                done.add(event_id)
        return done

    async def progress(self) -> dict[str, Any]:
        """For the progress line (``core.progress``): this run's delivered and dead, what the
        store has pending (every process's), deliveries waiting for a retry, and the endpoints
        that are failing (paused, disabled, or failing now) with their failures in a row."""
        outcomes = self.recorder.outcomes if self.recorder else {}
        counts = await self.store.counts()
        failing = [f"{w.endpoint_shown} ({w.state if w.state != 'active' else _failures(w.failures)})"
                   for w in self.workers.values() if w.failures or w.state != "active"]
        return {"delivered": outcomes.get("delivered", 0),
                "pending": counts.get("pending", 0) + counts.get("in_flight", 0),
                "retrying": sum(len(w.metrics.retrying) for w in self.workers.values()),
                "dead": outcomes.get("dead", 0), "failing": failing}

    def summary(self) -> dict[str, Any]:
        outcomes = dict(self.recorder.outcomes) if self.recorder else {}
        return {
            "events": self.ingested_events,
            "deliveries": self.ingested_deliveries,
            "delivered": outcomes.get("delivered", 0),
            "dead": outcomes.get("dead", 0),
            "disabled": outcomes.get("disabled", 0),
            "retried_attempts": outcomes.get("pending", 0),
        }


def _failures(count: int) -> str:
    return "1 failure" if count == 1 else f"{count} failures"
